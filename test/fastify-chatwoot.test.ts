import { randomUUID } from 'node:crypto'
import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import { test } from 'tap'
import fastifyChatwoot, { chatwootClient, chatwootInstances, type InstanceConfig } from '../lib/index.js'
import { deleteKeys, REDIS_URL } from './helpers/gateway.js'
import { simulatedAccount } from './helpers/simulator.js'
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
