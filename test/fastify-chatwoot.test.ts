import { randomUUID } from 'node:crypto'
import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import { test } from 'tap'
import fastifyChatwoot, { chatwootClient, chatwootInstances, type InstanceConfig } from '../lib/index.js'
import { deleteKeys, REDIS_URL } from './helpers/gateway.js'
import { simulatedAccount } from './helpers/simulator.js'
import { testDatabase } from './helpers/app.js'
import { requireServers } from './setup/servers.js'

test('one register gives every decorator, and a delivery goes through all four plugins', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const keyPrefix = `t${randomUUID()}:`
  const config: InstanceConfig = {
    chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token },
    database: sim.databaseUrl
  }
  await requireServers('redis')
  const app = Fastify()
  t.teardown(async () => {
    await deleteKeys(app.redis, keyPrefix)
    await app.close()
  })
  await app.register(fastifyRedis, { url: REDIS_URL })
  await app.register(fastifyChatwoot, {
    instances: { resolve: (name) => (name === 'acme' ? config : undefined), ttlMs: 1000 },
    postgres: { maxPools: 3 },
    client: { timeoutMs: 2000 },
    conversations: { keyPrefix }
  })
  app.post('/instances/:instance/messages', { config: { chatwoot: true } }, async (request) => {
    const result = await request.chatwoot!.deliver({ contact: { identifier: 'ana@example.com' }, message: { content: 'hello', source_id: 'wamid.1' } })
    return { conversationId: result.conversationId, messageId: result.message.id }
  })
  await app.ready()

  for (const decorator of ['chatwootInstances', 'instancePg', 'chatwoot', 'redis']) t.ok(app.hasDecorator(decorator), decorator)
  const answer = await app.inject({ method: 'POST', url: '/instances/acme/messages' })
  t.equal(answer.statusCode, 200, answer.body)
  const [stored] = await sim.query('SELECT content, source_id FROM messages WHERE id = $1', [answer.json().messageId])
  t.same(stored, { content: 'hello', source_id: 'wamid.1' })
  t.equal(app.chatwoot.stats().deliveries, 1, 'the conversations plugin counted it')
  t.equal((await app.chatwootInstances.get('acme')).chatwoot.accountId, account.accountId)
  const { rows } = await app.instancePg.query('acme', 'SELECT count(*)::int AS n FROM messages')
  t.equal(rows[0].n, 1, 'instancePg reaches the instance database from the same options')
  t.equal(app.instancePg.stats().pools, 1)
  t.same(app.instancePg.pools().map((pool) => pool.instances), [['acme']])

  const unknown = await app.inject({ method: 'POST', url: '/instances/nobody/messages' })
  t.equal(unknown.json().code, 'FST_CHATWOOT_INSTANCE_NOT_FOUND')
})

test('postgres: false leaves instancePostgres out, and the rest works without Redis', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false })
  await app.ready()
  t.notOk(app.hasDecorator('instancePg'))
  t.ok(app.hasDecorator('chatwoot'))
  await t.rejects(app.chatwoot.deliver('acme', { contact: { identifier: 'x' }, message: { content: 'x' } }),
    { code: 'FST_CHATWOOT_INSTANCE_NOT_FOUND' })
})

test('bad options fail at registration with a code that names what was given', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['instances of the wrong kind', { instances: 'acme' }, /"instances" must be the chatwootInstances options, got string/],
    ['no instances', {}, /"instances" must be the chatwootInstances options, got undefined/],
    ['a misspelt key', { instances: { resolve: () => undefined }, conversation: {} }, /unknown option "conversation"/],
    ['a bad option of one plugin', { instances: { resolve: () => undefined }, client: { connections: 0 } }, /chatwootClient: option "connections"/]
  ]
  for (const [name, options, message] of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(fastifyChatwoot, options as never).ready() }, { code: 'FST_CHATWOOT_OPTIONS_INVALID', message }, name)
    await app.close()
  }
})

test('each plugin stays usable alone, beside the collection in another scope', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(async (scope) => {
    await scope.register(chatwootInstances, { resolve: () => undefined })
    await scope.register(chatwootClient)
    t.ok(scope.hasDecorator('chatwoot'))
    t.notOk(scope.hasDecorator('instancePg'))
  })
  await app.register(async (scope) => {
    await scope.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false })
  })
  await app.ready()
  t.notOk(app.hasDecorator('chatwoot'), 'encapsulated: the root sees neither')
})

test('the outbox key registers chatwootOutbox after the others: enqueue is stored durably and delivered by its worker', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const database = await testDatabase(t)
  await requireServers('redis')
  const keyPrefix = `t${randomUUID()}:`
  const app = Fastify()
  t.teardown(async () => {
    await deleteKeys(app.redis, keyPrefix)
    await app.close()
  })
  await app.register(fastifyRedis, { url: REDIS_URL })
  await app.register(fastifyChatwoot, {
    instances: { resolve: () => ({ chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token } }) },
    postgres: false,
    conversations: { keyPrefix },
    outbox: { connectionString: database.url, pollMs: 20 }
  })
  app.post('/instances/:instance/queue', { config: { chatwoot: true } }, async (request, reply) => {
    reply.code(202)
    return request.chatwoot.enqueue({ contact: { identifier: 'ana@example.com' }, message: { content: 'queued', source_id: 'wamid.q1' } })
  })
  await app.ready()

  const answer = await app.inject({ method: 'POST', url: '/instances/acme/queue' })
  t.equal(answer.statusCode, 202, answer.body)
  t.match(answer.json(), { sourceId: 'wamid.q1', state: 'queued' }, 'the committed entry')
  const deadline = Date.now() + 15_000
  let stored: unknown[] = []
  while (stored.length === 0 && Date.now() < deadline) {
    stored = await sim.query('SELECT content FROM messages WHERE source_id = $1', ['wamid.q1'])
    if (stored.length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.same(stored, [{ content: 'queued' }], 'delivered once by the worker')
  t.match(await app.chatwoot.outbox.stats(), { dead: 0 })
})

test('without the outbox key, enqueue rejects with a coded error naming the plugin', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false })
  await t.rejects(app.chatwoot.enqueue('acme', { contact: { identifier: 'a' }, message: { content: 'x' } }),
    { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /chatwootOutbox/ })
})
