// The umbrella's `webhooks` key: chatwootWebhooks registered after the others (the outbox included),
// so one options object gives a gateway both directions. Over real HTTP from the simulator.
import { randomUUID } from 'node:crypto'
import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import pg from 'pg'
import { test } from 'tap'
import fastifyChatwoot, { type InstanceConfig, type WebhookMessage } from '../lib/index.js'
import { testDatabase } from './helpers/app.js'
import { deleteKeys, instanceOf, REDIS_URL } from './helpers/gateway.js'
import { chatwootApi, startSimulator } from './helpers/simulator.js'
import { until } from './outbox/fixture.js'
import { requireServers, usesServers } from './setup/servers.js'
import { SECRET, STATUS, storedStatus } from './webhooks/fixture.js'

usesServers('postgres', 'redis')

test('the webhooks key registers chatwootWebhooks after the outbox: a gateway\'s post echoes back ignored, an agent reply is handled once', async (t) => {
  const database = await testDatabase(t)
  await requireServers('redis')
  const keyPrefix = `t${randomUUID()}:`
  const instances: Record<string, InstanceConfig> = {}
  const handled: Array<{ instance: string, id: number, content: unknown, idempotencyKey: string }> = []
  const app = Fastify()
  t.teardown(async () => {
    await deleteKeys(app.redis, keyPrefix)
    await app.close()
  })
  await app.register(fastifyRedis, { url: REDIS_URL })
  await app.register(fastifyChatwoot, {
    instances: { resolve: (name) => instances[name] },
    postgres: false,
    conversations: { keyPrefix },
    outbox: { connectionString: database.url, pollMs: 20 },
    webhooks: {
      keyPrefix,
      onAgentMessage: (instance: string, message: WebhookMessage, { idempotencyKey }) => {
        handled.push({ instance, id: message.id, content: message.content, idempotencyKey })
      }
    }
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  for (const decorator of ['chatwootInstances', 'chatwoot', 'redis']) t.ok(app.hasDecorator(decorator), decorator)
  t.type(app.chatwoot.reportStatus, 'function', 'reportStatus is on fastify.chatwoot')
  t.type(app.chatwoot.outbox, 'object', 'the outbox is there too')

  const sim = await startSimulator(t, { webhooks: { url: `${url}/chatwoot/webhooks/acme`, secret: SECRET } })
  const account = await sim.createAccount()
  const config = instanceOf(sim, account)
  instances.acme = { ...config, chatwoot: { ...config.chatwoot, webhookSecret: SECRET } }

  // The gateway's own incoming post comes back as message_created: an echo, not a reply.
  const delivered = await app.chatwoot.deliver('acme', { contact: { identifier: 'ana@example.com' }, message: { content: 'hi', source_id: 'wamid.u1' } })
  await new Promise((resolve) => setImmediate(resolve))
  await sim.webhooks!.idle()
  const call = chatwootApi(sim, account)
  const reply = await call('POST', `/conversations/${delivered.conversationId}/messages`, { body: { content: 'Hello Ana', message_type: 'outgoing' } })
  t.equal(reply.status, 200, reply.text)
  await new Promise((resolve) => setImmediate(resolve))
  await sim.webhooks!.idle()
  // The handler runs after the 200 (from the outbox's worker): wait for it, not for the status (a new message is already `sent`).
  await until(async () => handled.length > 0, 10_000, 'the reply handled')
  await new Promise((resolve) => setTimeout(resolve, 200))

  t.same(sim.webhooks!.attempts.map((attempt) => [attempt.event, attempt.status]), [['message_created', 200], ['message_created', 200]],
    'both deliveries acknowledged')
  t.same(handled, [{ instance: 'acme', id: reply.body.id, content: 'Hello Ana', idempotencyKey: `chatwoot:acme:${account.accountId}:${reply.body.id}` }],
    'the agent reply only, once')
  t.same(await storedStatus(sim, reply.body.id), { status: STATUS.sent, external_error: null }, 'Chatwoot shows it sent')
  const outcome = await app.chatwoot.reportStatus('acme', { conversationId: delivered.conversationId, messageId: reply.body.id }, 'read')
  t.equal(outcome, 'updated')
  t.equal((await storedStatus(sim, reply.body.id))?.status, STATUS.read, 'a later receipt through the umbrella\'s reportStatus')
  // The sweep's watermark lives in the outbox's database: the umbrella hands its storage over.
  await app.chatwoot.reconcileReplies('acme')
  const db = new pg.Client({ connectionString: database.url })
  await db.connect()
  const { rows } = await db.query('SELECT count(*)::int AS n FROM pg_tables WHERE tablename = $1', ['webhook_watermarks']).finally(() => db.end())
  t.same(rows, [{ n: 1 }], 'the watermark table is in the outbox\'s database')
})

test('without the webhooks key there is no webhook route and no reportStatus; with it, a wrong signature is a coded 401', async (t) => {
  const without = Fastify()
  t.teardown(() => without.close())
  await without.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false })
  await without.ready()
  t.equal((await without.inject({ method: 'POST', url: '/chatwoot/webhooks/acme', payload: {} })).statusCode, 404)
  t.equal((without.chatwoot as { reportStatus?: unknown }).reportStatus, undefined)

  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const config = instanceOf(sim, account)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyChatwoot, {
    instances: { resolve: () => ({ ...config, chatwoot: { ...config.chatwoot, webhookSecret: SECRET } }) },
    postgres: false,
    webhooks: { redis: false, path: '/hooks/:instance', onAgentMessage: () => t.fail('no handler call on a refused delivery') }
  })
  const refused = await app.inject({
    method: 'POST',
    url: '/hooks/acme',
    headers: { 'content-type': 'application/json', 'x-chatwoot-timestamp': String(Math.floor(Date.now() / 1000)), 'x-chatwoot-signature': `sha256=${'0'.repeat(64)}` },
    payload: JSON.stringify({ event: 'message_created', id: 1 })
  })
  t.equal(refused.statusCode, 401)
  t.match(refused.json(), { code: 'FST_CHATWOOT_WEBHOOK_SIGNATURE', message: /bad signature/ })
  t.notMatch(refused.body, SECRET)
})

test('bad webhooks options fail at registration, naming chatwootWebhooks', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no handler', { instances: { resolve: () => undefined }, postgres: false, webhooks: {} }, /chatwootWebhooks: option "onAgentMessage" must be a function/],
    ['a path without :instance', { instances: { resolve: () => undefined }, postgres: false, webhooks: { onAgentMessage: () => {}, path: '/hooks' } }, /chatwootWebhooks: option "path"/],
    ['a misspelt key lists webhooks', { instances: { resolve: () => undefined }, webhook: {} }, /unknown option "webhook"; expected one of .*webhooks/]
  ]
  for (const [name, options, message] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(fastifyChatwoot, options as never).ready() }, { code: 'FST_CHATWOOT_OPTIONS_INVALID', message }, name)
    await app.close()
  }
})
