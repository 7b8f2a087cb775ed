import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import Fastify from 'fastify'
import { type Test, test } from 'tap'
import {
  ChatwootClient, chatwootClient, type ChatwootClientPluginOptions, ChatwootError, chatwootInstances, type ClientOverrides,
  type InstanceConfig
} from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { appWithLogs } from '../helpers/app.js'
import { failure, gateway } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'

/** Quick retries, so failing calls end soon; tests that count attempts give their own. */
const QUICK: ChatwootClientPluginOptions = { retry: { minDelayMs: 1, maxDelayMs: 5 } }

function settings (sim: ChatwootSimulator, account: CreatedAccount, client?: ClientOverrides): InstanceConfig {
  return {
    chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token },
    ...(client === undefined ? {} : { client })
  }
}

type Table = Record<string, InstanceConfig | undefined>

/**
 * An app (logs captured) with chatwootInstances resolving names from `table` (read at each resolve, so a test
 * may change it) and chatwootClient with `options`; not ready yet, so routes can still be added. Closed at teardown.
 */
async function build (t: Test, table: Table, options: ChatwootClientPluginOptions = QUICK, ttl?: number) {
  const { app, logs } = appWithLogs()
  const { resolved } = await gateway(t, {
    app,
    resolve: async (name) => table[name],
    client: options,
    ...(ttl === undefined ? {} : { instancesTtlMs: ttl }),
    redis: false,
    conversations: false,
    ready: false
  })
  return { app, logs, resolved }
}

/** Disarms the faults and lets delayed requests still running in the simulator finish before it closes. */
async function settle (sim: ChatwootSimulator) {
  sim.faults.clear()
  await new Promise((resolve) => setTimeout(resolve, 500))
}

const inboxIds = async (client: ChatwootClient) => (await client.listInboxes()).payload.map((inbox) => inbox.id)
const inboxesPath = (account: CreatedAccount) => `/api/v1/accounts/${account.accountId}/inboxes`
const attemptsOn = (sim: ChatwootSimulator, path: string) => sim.requests.filter((request) => request.path === path).length

test('client(name) answers a working client, the same one again, and a new one with the new token after invalidate', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const table: Table = { acme: settings(sim, account) }
  const { app, resolved } = await build(t, table)
  await app.ready()

  const first = await app.chatwoot.client('acme')
  t.type(first, ChatwootClient)
  t.equal(first.instance, 'acme', 'the client is named after its instance')
  t.equal(first.accountId, account.accountId)
  t.same(await inboxIds(first), [account.inboxId], 'listInboxes answers the account\'s inbox')
  t.equal(await app.chatwoot.client('acme'), first, 'the same client on a second call')
  t.equal(resolved.length, 1, 'resolved once')

  // The account stays, the token becomes the other account's admin's: Chatwoot must now refuse.
  table.acme = { chatwoot: { ...settings(sim, account).chatwoot, token: other.token } }
  t.equal(await app.chatwoot.client('acme'), first, 'no change seen before invalidate (within ttl)')
  app.chatwootInstances.invalidate('acme')
  const rotated = await app.chatwoot.client('acme')
  t.not(rotated, first, 'a new client after invalidate with changed settings')
  t.equal(rotated.accountId, account.accountId)
  const refused = await failure(rotated.listInboxes())
  t.equal(refused.code, 'FST_CHATWOOT_UNAUTHORIZED', 'the new client sends the new token, which is not in this account')
  t.same(await inboxIds(first), [account.inboxId], 'a client obtained before keeps its own settings')
  t.equal(await app.chatwoot.client('acme'), rotated, 'the new client is cached in turn')

  table.acme = settings(sim, other)
  app.chatwootInstances.invalidate('acme')
  const moved = await app.chatwoot.client('acme')
  t.not(moved, rotated)
  t.equal(moved.accountId, other.accountId)
  t.same(await inboxIds(moved), [other.inboxId], 'calls go to the other account with its token')
})

test('a changed config found after the ttl rebuilds the client without invalidate', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const table: Table = { acme: settings(sim, account) }
  const { app } = await build(t, table, QUICK, 50)
  await app.ready()

  const first = await app.chatwoot.client('acme')
  await new Promise((resolve) => setTimeout(resolve, 70))
  t.equal(await app.chatwoot.client('acme'), first, 'resolved again with the same settings: same client')
  table.acme = settings(sim, other)
  await new Promise((resolve) => setTimeout(resolve, 70))
  const second = await app.chatwoot.client('acme')
  t.not(second, first, 'resolved again with other settings: a new client')
  t.same(await inboxIds(second), [other.inboxId])
})

test('instances on one origin share one keep-alive pool, closed with the app', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  // One connection per origin: were the pool not shared, each instance would open its own.
  const { app } = await build(t, { a: settings(sim, account), b: settings(sim, other) }, { ...QUICK, connections: 1 })
  await app.ready()

  // Which socket carried each request to the simulator (undici publishes every request it writes).
  const sockets: Array<{ path: string, socket: Socket }> = []
  const origin = new URL(sim.url).origin
  const onHeaders = (message: unknown) => {
    const { request, socket } = message as { request: { origin: string | URL, path: string }, socket: Socket }
    if (String(request.origin).replace(/\/$/, '') === origin) sockets.push({ path: request.path, socket })
  }
  subscribe('undici:client:sendHeaders', onHeaders)
  t.teardown(() => unsubscribe('undici:client:sendHeaders', onHeaders))

  const a = await app.chatwoot.client('a')
  const b = await app.chatwoot.client('b')
  t.not(a, b)
  t.same(await inboxIds(a), [account.inboxId], 'instance a works')
  t.same(await inboxIds(b), [other.inboxId], 'instance b works')
  const together = await Promise.all([inboxIds(a), inboxIds(b), inboxIds(a), inboxIds(b)])
  t.same(together, [[account.inboxId], [other.inboxId], [account.inboxId], [other.inboxId]], 'concurrent calls of both work')

  t.same(sockets.map((entry) => entry.path).sort(),
    [inboxesPath(account), inboxesPath(account), inboxesPath(account), inboxesPath(other), inboxesPath(other), inboxesPath(other)].sort(),
    'every request seen')
  t.equal(new Set(sockets.map((entry) => entry.socket)).size, 1,
    'both instances\' requests went over one kept-alive connection: their pool is shared')

  await app.close()
  t.ok(sockets.every((entry) => entry.socket.destroyed), 'closing the app closed the shared connection')
})

test('a route with config.chatwoot true finds the client of its :instance on request.chatwoot', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const { app, resolved } = await build(t, { a: settings(sim, account), b: settings(sim, other) })
  app.get('/:instance/inboxes', { config: { chatwoot: true } }, async (request) => {
    const { instance, client } = request.chatwoot!
    return { instance, accountId: client.accountId, inboxes: await inboxIds(client), same: client === await app.chatwoot.client(instance) }
  })
  await app.ready()

  const a = await app.inject('/a/inboxes')
  t.equal(a.statusCode, 200)
  t.same(a.json(), { instance: 'a', accountId: account.accountId, inboxes: [account.inboxId], same: true })
  const b = await app.inject('/b/inboxes')
  t.same(b.json(), { instance: 'b', accountId: other.accountId, inboxes: [other.inboxId], same: true })
  t.same(resolved, ['a', 'b'])
  const head = await app.inject({ method: 'HEAD', url: '/a/inboxes' })
  t.equal(head.statusCode, 200, 'the HEAD route Fastify adds is decorated too')
  t.equal((await app.inject({ method: 'HEAD', url: '/nobody/inboxes' })).statusCode, 404)
})

test('config.chatwoot.instance picks the instance from the request', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const { app } = await build(t, { a: settings(sim, account), b: settings(sim, other) })
  app.post('/webhook', { config: { chatwoot: { instance: (request) => request.headers['x-instance'] as string } } }, async (request) => {
    const { instance, client } = request.chatwoot!
    return { instance, accountId: client.accountId }
  })
  await app.ready()

  const b = await app.inject({ method: 'POST', url: '/webhook', headers: { 'x-instance': 'b' } })
  t.equal(b.statusCode, 200)
  t.same(b.json(), { instance: 'b', accountId: other.accountId })
  const a = await app.inject({ method: 'POST', url: '/webhook', headers: { 'x-instance': 'a' } })
  t.same(a.json(), { instance: 'a', accountId: account.accountId })
  const none = await app.inject({ method: 'POST', url: '/webhook' })
  t.equal(none.statusCode, 400, 'no header: no valid name')
  t.equal(none.json().code, 'FST_CHATWOOT_INSTANCE_NAME_INVALID')
})

test('an unknown instance answers 404 and an invalid name 400, with their codes', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app, resolved } = await build(t, { a: settings(sim, account) })
  let handled = 0
  app.get('/:instance/x', { config: { chatwoot: true } }, async () => { handled++; return 'handled' })
  await app.ready()

  const unknown = await app.inject('/nobody/x')
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'FST_CHATWOOT_INSTANCE_NOT_FOUND')
  t.same(resolved, ['nobody'])

  for (const name of ['a:b', '-lead', 'x'.repeat(65), encodeURIComponent('a b')]) {
    const invalid = await app.inject(`/${name}/x`)
    t.equal(invalid.statusCode, 400, `${name.slice(0, 10)} refused`)
    t.equal(invalid.json().code, 'FST_CHATWOOT_INSTANCE_NAME_INVALID')
  }
  t.same(resolved, ['nobody'], 'resolve never saw an invalid name')
  t.equal(handled, 0, 'the handler never ran')
})

test('a route without config.chatwoot has request.chatwoot null and never resolves', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app, resolved } = await build(t, { a: settings(sim, account) })
  app.get('/plain', async (request) => ({ chatwoot: request.chatwoot }))
  app.get('/off/:instance', { config: { chatwoot: false } }, async (request) => ({ chatwoot: request.chatwoot }))
  app.get('/on/:instance', { config: { chatwoot: true } }, async (request) => ({ decorated: request.chatwoot !== null }))
  await app.ready()

  const plain = await app.inject('/plain')
  t.equal(plain.statusCode, 200)
  t.same(plain.json(), { chatwoot: null })
  const off = await app.inject('/off/a')
  t.same(off.json(), { chatwoot: null }, 'config.chatwoot false is no decoration either')
  t.same(resolved, [], 'resolve was never called')

  t.same((await app.inject('/on/a')).json(), { decorated: true })
  t.same((await app.inject('/plain')).json(), { chatwoot: null }, 'a decorated request does not leak into the next one')
})

test('a route\'s own preHandlers run before the instance lookup', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app, resolved } = await build(t, { a: settings(sim, account) })
  const order: string[] = []
  app.get('/:instance/secret', {
    config: { chatwoot: true },
    preHandler: [
      async (request, reply) => {
        order.push(`auth:${String(request.chatwoot)}`)
        if (request.headers.authorization !== 'Bearer ok') return reply.code(401).send({ error: 'unauthorized' })
      },
      async () => { order.push('second') }
    ]
  }, async (request) => {
    order.push('handler')
    return { instance: request.chatwoot!.instance }
  })
  app.get('/:instance/single', {
    config: { chatwoot: true },
    preHandler: async (request, reply) => { reply.code(403).send({ error: 'forbidden' }) }
  }, async () => 'never')
  await app.ready()

  const rejected = await app.inject('/a/secret')
  t.equal(rejected.statusCode, 401)
  t.same(resolved, [], 'an auth preHandler that rejects means resolve is never called')
  t.same(order, ['auth:null'])

  const single = await app.inject('/a/single')
  t.equal(single.statusCode, 403, 'a single preHandler function (not an array) is kept')
  t.same(resolved, [])

  const unknown = await app.inject('/nobody/secret')
  t.equal(unknown.statusCode, 401, 'the auth preHandler answers before an unknown instance is looked up')
  t.same(resolved, [])

  order.length = 0
  const allowed = await app.inject({ url: '/a/secret', headers: { authorization: 'Bearer ok' } })
  t.equal(allowed.statusCode, 200)
  t.same(allowed.json(), { instance: 'a' })
  t.same(order, ['auth:null', 'second', 'handler'], 'both preHandlers ran, request.chatwoot still unset in them')
  t.same(resolved, ['a'])
})

test('a bad config.chatwoot on a route fails at registration', async (t) => {
  const bad: Array<[string, unknown]> = [['/no-param', true], ['/:instanceId', true], ['/:instance/x', 'yes'], ['/:instance', {}],
    ['/:instance', { instance: 'a' }]]
  for (const [url, setting] of bad) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(chatwootInstances, { resolve: () => undefined })
    await app.register(chatwootClient)
    app.register(async (scope) => {
      scope.get(url, { config: { chatwoot: setting as never } }, async () => 'x')
    })
    await t.rejects(async () => { await app.ready() }, { code: 'FST_CHATWOOT_OPTIONS_INVALID' }, `${url} with ${JSON.stringify(setting)} refused`)
  }

  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(chatwootInstances, { resolve: () => undefined })
  await app.register(chatwootClient)
  t.throws(() => app.get('/no-param', { config: { chatwoot: true } }, async () => 'x'), { code: 'FST_CHATWOOT_OPTIONS_INVALID' },
    'on the root, app.get itself throws')
  app.get('/prefixed/:instance/x', { config: { chatwoot: true } }, async () => 'x')
  await app.ready()
  // Accepted, and the param is what the route reads: resolve knows no 'acme', so the request is refused for it.
  const answer = await app.inject('/prefixed/acme/x')
  t.equal(answer.statusCode, 404, 'an :instance param anywhere in the path is accepted and read')
  t.match(answer.json(), { code: 'FST_CHATWOOT_INSTANCE_NOT_FOUND' })
})

test('50 concurrent requests for 5 instances each get their own instance\'s client', async (t) => {
  const { sim } = await simulatedAccount(t)
  const accounts = await Promise.all(Array.from({ length: 5 }, () => sim.createAccount()))
  const table: Table = Object.fromEntries(accounts.map((account, i) => [`inst-${i}`, settings(sim, account)]))
  const { app, resolved } = await build(t, table)
  const seen = new Map<string, Set<ChatwootClient>>()
  app.get('/:instance/who', { config: { chatwoot: true } }, async (request) => {
    const { instance, client } = request.chatwoot!
    if (!seen.has(instance)) seen.set(instance, new Set())
    seen.get(instance)!.add(client)
    return { instance, accountId: client.accountId, inboxes: await inboxIds(client) }
  })
  await app.ready()

  const names = Array.from({ length: 50 }, (_, i) => `inst-${(i * 7) % 5}`)
  const answers = await Promise.all(names.map((name) => app.inject(`/${name}/who`)))
  const expected = names.map((name) => {
    const account = accounts[Number(name.slice(5))]!
    return { instance: name, accountId: account.accountId, inboxes: [account.inboxId] }
  })
  t.same(answers.map((answer) => answer.statusCode), names.map(() => 200))
  t.same(answers.map((answer) => answer.json()), expected, 'each request got the client of its own instance')
  t.same([...seen.keys()].sort(), Object.keys(table).sort())
  t.ok([...seen.values()].every((clients) => clients.size === 1), 'one client per instance, shared by its concurrent requests')
  t.equal(resolved.length, 5, 'one resolve per instance')
})

test('fastify.chatwoot.addHook(\'onError\') applies to clients made before and after it', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const table: Table = { before: settings(sim, account), after: settings(sim, other) }
  const { app } = await build(t, table, { retry: { maxRetries: 0 } })
  await app.ready()

  const early = await app.chatwoot.client('before')
  const heard: Array<{ code: string, instance: string | undefined, operation: string, client: ChatwootClient }> = []
  app.chatwoot.addHook('onError', (error, context) => {
    heard.push({ code: error.code, instance: context.instance, operation: context.operation, client: context.client })
  })
  const late = await app.chatwoot.client('after')
  sim.faults.add({ path: /\/inboxes$/, status: 500, times: Infinity })

  t.equal((await failure(early.listInboxes())).code, 'FST_CHATWOOT_SERVER')
  t.equal((await failure(late.listInboxes())).code, 'FST_CHATWOOT_SERVER')
  t.same(heard, [
    { code: 'FST_CHATWOOT_SERVER', instance: 'before', operation: 'listInboxes', client: early },
    { code: 'FST_CHATWOOT_SERVER', instance: 'after', operation: 'listInboxes', client: late }
  ], 'the client made before the hook and the one made after both reached it')
  t.equal(attemptsOn(sim, inboxesPath(account)), 1, 'retry { maxRetries: 0 }: one attempt')

  table.before = settings(sim, account, { timeoutMs: 3000 })
  app.chatwootInstances.invalidate('before')
  const rebuilt = await app.chatwoot.client('before')
  t.not(rebuilt, early)
  await failure(rebuilt.listInboxes())
  t.equal(heard.at(-1)?.client, rebuilt, 'a client rebuilt after a change has the hook too')

  t.throws(() => app.chatwoot.addHook('onClose' as never, () => undefined), { code: 'FST_CHATWOOT_OPTIONS_INVALID' })
  t.throws(() => app.chatwoot.addHook('onError', 'x' as never), { code: 'FST_CHATWOOT_OPTIONS_INVALID' })
})

test('the plugin\'s retry and timeoutMs options apply to its clients', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const { app } = await build(t, { a: settings(sim, account), b: settings(sim, other) },
    { retry: { maxRetries: 2, minDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 100 })
  await app.ready()

  sim.faults.add({ path: inboxesPath(account), status: 500, times: Infinity })
  const a = await app.chatwoot.client('a')
  t.equal((await failure(a.listInboxes())).code, 'FST_CHATWOOT_SERVER')
  t.equal(attemptsOn(sim, inboxesPath(account)), 3, 'retry { maxRetries: 2 }: three attempts')

  sim.faults.add({ path: inboxesPath(other), delayMs: 400, times: Infinity })
  const b = await app.chatwoot.client('b')
  const slow = await failure(b.listInboxes())
  t.type(slow, ChatwootError)
  t.equal(slow.code, 'FST_CHATWOOT_TIMEOUT', 'timeoutMs: 100 against a 400 ms answer')
  t.equal(slow.statusCode, 504)
  await settle(sim)
})

test('an instance\'s own client settings override the plugin\'s, for that instance only', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const { app } = await build(t, {
    quick: settings(sim, account, { timeoutMs: 100 }),
    patient: settings(sim, account),
    once: settings(sim, other, { retry: { maxRetries: 0 } })
  }, { timeoutMs: 3000, retry: { maxRetries: 2, minDelayMs: 1, maxDelayMs: 5 } })
  await app.ready()

  sim.faults.add({ path: inboxesPath(account), delayMs: 400, times: Infinity })
  const quick = await app.chatwoot.client('quick')
  const patient = await app.chatwoot.client('patient')
  t.equal((await failure(quick.listInboxes())).code, 'FST_CHATWOOT_TIMEOUT', 'client: { timeoutMs: 100 } times out')
  t.same(await inboxIds(patient), [account.inboxId], 'the same account through an instance without override waits')

  sim.faults.add({ path: inboxesPath(other), status: 503, times: Infinity })
  t.equal((await failure((await app.chatwoot.client('once')).listInboxes())).code, 'FST_CHATWOOT_SERVER')
  t.equal(attemptsOn(sim, inboxesPath(other)), 1, 'client: { retry: { maxRetries: 0 } } overrides the plugin\'s 2')
  await settle(sim)
})

test('bad plugin options are refused at registration', async (t) => {
  const bad: unknown[] = [
    { retry: { maxRetries: -1 } }, { retry: { minDelayMs: -1 } }, { retry: { jitter: 'yes' } },
    { timeoutMs: 0 }, { timeoutMs: -5 }, { timeoutMs: Number.NaN }, { timeoutMs: '100' }, { timeout: 0 },
    { connections: 0 }, { connections: 1.5 }, { findMessage: 'latest' }
  ]
  for (const options of bad) {
    const app = Fastify()
    await app.register(chatwootInstances, { resolve: () => undefined })
    await t.rejects(async () => { await app.register(chatwootClient, options as never).ready() },
      { code: 'FST_CHATWOOT_OPTIONS_INVALID' }, `refused: ${JSON.stringify(options)}`)
    await app.close()
  }
})

test('a bad client section in an instance\'s config makes client(name) reject', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await build(t, {
    negative: settings(sim, account, { timeoutMs: -1 }),
    retries: settings(sim, account, { retry: { maxRetries: -1 } }),
    good: settings(sim, account)
  })
  await app.ready()
  for (const name of ['negative', 'retries']) {
    const error = await failure(app.chatwoot.client(name))
    t.equal(error.code, 'FST_CHATWOOT_INSTANCE_CONFIG_INVALID', `${name} refused`)
    t.notMatch(error.message, account.token)
  }
  t.same(await inboxIds(await app.chatwoot.client('good')), [account.inboxId], 'other instances still work')
})

test('chatwootClient without chatwootInstances fails at ready', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(chatwootClient).ready() }, /fastify-chatwoot-instances/)
})

test('no log line carries the token, even at debug level with retries and failures', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app, logs } = await build(t, { acme: settings(sim, account) }, { retry: { maxRetries: 2, minDelayMs: 1, maxDelayMs: 5 }, timeoutMs: 100 })
  app.get('/:instance/inboxes', { config: { chatwoot: true } }, async (request) => {
    request.log.info({ chatwoot: request.chatwoot }, 'picked an instance')
    return inboxIds(request.chatwoot!.client)
  })
  await app.ready()

  sim.faults.add({ path: inboxesPath(account), status: 500, times: 3 })
  const failed = await app.inject('/acme/inboxes')
  t.equal(failed.statusCode, 500, 'the route threw the ChatwootError')
  t.equal(failed.json().code, 'FST_CHATWOOT_SERVER')

  sim.faults.add({ path: inboxesPath(account), delayMs: 300, times: 3 })
  const timedOut = await app.inject('/acme/inboxes')
  t.equal(timedOut.statusCode, 504)
  t.equal(timedOut.json().code, 'FST_CHATWOOT_TIMEOUT')

  const client = await app.chatwoot.client('acme')
  app.log.info({ client, instance: await app.chatwootInstances.get('acme') }, 'the client itself')

  await logs.waitFor(/chatwoot call failed, retrying/)
  await logs.waitFor(/the client itself/)
  t.ok(logs.lines.filter((line) => line.includes('chatwoot call failed, retrying')).length >= 4, 'retries are logged at debug')
  t.ok(logs.lines.some((line) => line.includes('FST_CHATWOOT_SERVER') && line.includes('"level":50')), 'the route\'s error is logged')
  t.ok(logs.lines.some((line) => line.includes('FST_CHATWOOT_TIMEOUT')), 'the timeout is logged')
  t.ok(logs.lines.length > 10)
  const leaking = logs.lines.filter((line) => line.includes(account.token))
  t.same(leaking, [], 'no captured log line contains the token')
  await settle(sim)
})

test('app.close() closes the pools: a client obtained before fails instead of hanging', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await build(t, { acme: settings(sim, account) })
  await app.ready()
  const client = await app.chatwoot.client('acme')
  t.same(await inboxIds(client), [account.inboxId])
  await app.close()
  const requestsBefore = sim.requests.length
  const error = await failure(client.listInboxes())
  t.type(error, ChatwootError, 'the call rejects with a ChatwootError')
  t.equal(error.code, 'FST_CHATWOOT_NETWORK')
  t.equal(sim.requests.length, requestsBefore, 'nothing reached Chatwoot after close')
})

test('client(name) after app.close() opens no new pool that nothing would close', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await build(t, { acme: settings(sim, account) })
  await app.ready()
  t.same(await inboxIds(await app.chatwoot.client('acme')), [account.inboxId])
  await app.close()
  const requestsBefore = sim.requests.length

  // Refused, as instancePostgres refuses once closed: a pool opened now would never be closed.
  const late = await app.chatwoot.client('acme').then(() => 'a client', (rejection: unknown) => rejection)
  t.match(late, { code: 'FST_CHATWOOT_CLIENT_CLOSED', statusCode: 503 }, 'client(name) after close rejects with its code')
  t.equal(sim.requests.length, requestsBefore, 'no request reached Chatwoot after close')
})
