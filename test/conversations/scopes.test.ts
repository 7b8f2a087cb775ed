import { randomUUID } from 'node:crypto'
import fastifyRedis from '@fastify/redis'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { type Test, test } from 'tap'
import { chatwootClient, type ChatwootClientPluginOptions, chatwootConversations, chatwootInstances, type DeliveryInput } from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { appWithLogs } from '../helpers/app.js'
import { deleteKeys, failure, gateway, instanceOf, QUICK_RETRY, REDIS_URL } from '../helpers/gateway.js'
import { conversationKey } from '../helpers/keys.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

// Plugins own their decorators: conversations registered in a child scope adds deliver there only; it
// takes its Redis as an option; and it leaves the host's own findMessage in its place in the chain.

const input = (identifier: string, content: string): DeliveryInput => ({ contact: { identifier, name: identifier }, message: { content } })

/** chatwootInstances, @fastify/redis (`redis` its options, false for none) and chatwootClient on a fresh app, closed at teardown. */
async function base (t: Test, sim: ChatwootSimulator, account: CreatedAccount, redis: false | { namespace?: string } = {},
  client: ChatwootClientPluginOptions = { retry: QUICK_RETRY }) {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(chatwootInstances, { resolve: (name) => name === 'acme' ? instanceOf(sim, account) : undefined })
  if (redis !== false) await app.register(fastifyRedis, { url: REDIS_URL, ...redis })
  await app.register(chatwootClient, client)
  return app
}

/** Removes the test's keys before the app (and its Redis client) closes. */
function tidy (t: Test, redis: () => Redis, keyPrefix: string) {
  t.teardown(() => deleteKeys(redis(), keyPrefix).catch(() => {}))
}

test('conversations in a child scope: the child delivers, the root and a sibling see nothing of it', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const app = await base(t, sim, account)
  const keyPrefix = `t${randomUUID()}:`
  tidy(t, () => app.redis, keyPrefix)
  const deliverRoute = async (request: { chatwoot: { deliver: (input: DeliveryInput) => Promise<{ conversationId: number }> } | null }) =>
    request.chatwoot!.deliver(input('route', 'via a route'))
  app.post('/:instance/root', { config: { chatwoot: true } }, deliverRoute as never)
  let child: FastifyInstance | undefined
  let sibling: FastifyInstance | undefined
  await app.register(async (scope) => {
    await scope.register(chatwootConversations, { keyPrefix })
    scope.post('/:instance/child', { config: { chatwoot: true } }, deliverRoute as never)
    child = scope
  })
  await app.register(async (scope) => {
    scope.post('/:instance/sibling', { config: { chatwoot: true } }, deliverRoute as never)
    sibling = scope
  })
  await app.ready()

  for (const [name, scope] of [['the root', app], ['a sibling scope', sibling!]] as const) {
    t.match(await failure(scope.chatwoot.deliver('acme', input('x', 'x'))), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /chatwootConversations/ },
      `${name}: fastify.chatwoot.deliver still rejects, coded`)
    t.throws(() => scope.chatwoot.stats(), { code: 'FST_CHATWOOT_OPTIONS_INVALID' }, `${name}: stats() too`)
    t.match(await failure(scope.chatwoot.conversations.evict('acme', { identifier: 'x' })), { code: 'FST_CHATWOOT_OPTIONS_INVALID' }, `${name}: evict too`)
  }
  t.equal(sim.requests.length, 0, 'nothing sent to Chatwoot from outside the child')

  const direct = await child!.chatwoot.deliver('acme', input('direct', 'from the child'))
  t.equal(direct.message.content, 'from the child', 'the child\'s fastify.chatwoot.deliver works')
  t.equal(typeof child!.chatwoot.client, 'function', 'and the child still sees the client\'s own members')
  const routed = await app.inject({ method: 'POST', url: '/acme/child' })
  t.equal(routed.statusCode, 200, routed.body)
  t.equal(routed.json().message.content, 'via a route', 'request.chatwoot.deliver on a child route works')
  for (const url of ['/acme/root', '/acme/sibling']) {
    const refused = await app.inject({ method: 'POST', url })
    t.match(refused.json(), { code: 'FST_CHATWOOT_OPTIONS_INVALID', statusCode: 500 }, `${url}: request.chatwoot.deliver rejects, coded`)
  }
  t.match(child!.chatwoot.stats(), { deliveries: 2, failures: 0 }, 'the child counts its own deliveries')
})

test('two sibling scopes with their own conversations: each its own deliver, stats and keys', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const app = await base(t, sim, account)
  const prefixes = [`t${randomUUID()}:`, `t${randomUUID()}:`]
  const scopes: FastifyInstance[] = []
  for (const keyPrefix of prefixes) {
    tidy(t, () => app.redis, keyPrefix)
    await app.register(async (scope) => {
      await scope.register(chatwootConversations, { keyPrefix })
      scopes.push(scope)
    })
  }
  await app.ready()
  const [one, two] = scopes as [FastifyInstance, FastifyInstance]
  await one.chatwoot.deliver('acme', input('shared', 'one'))
  await one.chatwoot.deliver('acme', input('shared', 'one again'))
  const fromTwo = await two.chatwoot.deliver('acme', input('shared', 'two'))
  t.match(one.chatwoot.stats(), { deliveries: 2, misses: 1, hits: 1 })
  t.match(two.chatwoot.stats(), { deliveries: 1, misses: 1, hits: 0 }, 'the second scope has its own cache and counts')
  t.ok(await app.redis.get(await conversationKey(sim, prefixes[1]!, 'acme', account, 'shared')), 'under its own key prefix')
  t.equal(fromTwo.cache, 'miss')
})

test('a namespaced @fastify/redis: without the redis option a coded options error at registration, with it the namespace\'s client', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const refused = await base(t, sim, account, { namespace: 'cache' })
  refused.register(chatwootConversations, { keyPrefix: 'never:' })
  const error = await failure(Promise.resolve(refused.ready()))
  t.match(error, { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /namespaces \(cache\).*redis: fastify\.redis\.cache/ },
    'FST_CHATWOOT_OPTIONS_INVALID telling what to pass, not a TypeError')
  t.notOk(error.message.includes(REDIS_URL), 'no Redis URL in it')

  const app = await base(t, sim, account, { namespace: 'cache' })
  const cache = (app.redis as unknown as Record<string, Redis>).cache!
  const keyPrefix = `t${randomUUID()}:`
  tidy(t, () => cache, keyPrefix)
  await app.register(chatwootConversations, { keyPrefix, redis: cache })
  await app.ready()
  const result = await app.chatwoot.deliver('acme', input('namespaced', 'through the cache namespace'))
  t.equal(await cache.get(await conversationKey(sim, keyPrefix, 'acme', account, 'namespaced')),
    `${result.conversationId}:${result.contactId}:namespaced`, 'the conversation is cached through the namespace\'s client')
  t.match(app.chatwoot.stats(), { storeErrors: 0, failures: 0 })

  const none = await base(t, sim, account, false)
  none.register(chatwootConversations, { keyPrefix: 'x:', redis: 'redis://user:secret@127.0.0.1:6379' as never })
  const bad = await failure(Promise.resolve(none.ready()))
  t.match(bad, { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /got a string/ }, 'a URL instead of a client: coded, naming what it got')
  t.notOk(bad.message.includes('secret'), 'never the URL\'s content')
})

test('a host\'s findMessage beside conversations: the delivery\'s database check first, then the host\'s, then the API', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const order: string[] = []
  const findMessage: ChatwootClientPluginOptions['findMessage'] = async ({ sourceId }) => {
    order.push(`host ${sourceId}`)
    return undefined
  }
  const apiReads = () => sim.requests.filter((request) => request.method === 'GET' && /\/messages$/.test(request.path)).length
  const drop = () => sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })

  // The instance's database is the simulator's own: the delivery's check finds the message there.
  const found = await gateway(t, {
    instances: { acme: instanceOf(sim, account, { database: sim.databaseUrl }) }, postgres: true, client: { retry: QUICK_RETRY, findMessage }
  })
  await found.app.chatwoot.deliver('acme', input('db', 'before'))
  sim.requests.length = 0
  drop()
  const viaDatabase = await found.app.chatwoot.deliver('acme', { ...input('db', 'dropped'), message: { content: 'dropped', source_id: 'db-1' } })
  t.equal(viaDatabase.deduplicated, true, 'the dropped post is found')
  t.same(order, [], 'the database answered: the host\'s findMessage was not asked')
  t.equal(apiReads(), 0, 'nor the API')

  // A database the check cannot reach answers undefined: the host's findMessage is asked, then the API.
  const { app: logged, logs } = appWithLogs()
  logs.lines.length = 0
  const unreachable = sim.databaseUrl.replace(/\/[^/]*$/, '/fcw_no_such_database')
  const fallback = await gateway(t, {
    app: logged, instances: { acme: instanceOf(sim, account, { database: unreachable }) }, postgres: true, client: { retry: QUICK_RETRY, findMessage }
  })
  await fallback.app.chatwoot.deliver('acme', input('down', 'before'))
  const warned = logs.waitFor(/asking the API instead/).then(() => order.push('database check failed'))
  sim.requests.length = 0
  drop()
  const original = sim.requests.push.bind(sim.requests)
  // Noted in order as they come: a read of the conversation's messages is the API lookup.
  sim.requests.push = (...entries) => {
    for (const entry of entries) if (entry.method === 'GET' && /\/messages$/.test(entry.path)) order.push('api')
    return original(...entries)
  }
  t.teardown(() => { sim.requests.push = original })
  const viaApi = await fallback.app.chatwoot.deliver('acme', { ...input('down', 'dropped'), message: { content: 'dropped', source_id: 'down-1' } })
  await warned
  t.equal(viaApi.deduplicated, true, 'found through the API')
  t.same(order.slice(0, 3), ['database check failed', 'host down-1', 'api'], 'the database check, then the host\'s findMessage, then the API')
  t.equal(order.filter((entry) => entry.startsWith('host')).length, 1, 'the host\'s findMessage asked once')
  const [row] = await sim.query<{ count: number }>("SELECT count(*)::int AS count FROM messages WHERE source_id IN ('db-1', 'down-1')")
  t.equal(row!.count, 2, 'each stored once')
})
