import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { type AddressInfo, createServer, Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import fastifyRedis from '@fastify/redis'
import type { FastifyInstance } from 'fastify'
import { type Test, test } from 'tap'
import { conversationKeys } from '../../lib/conversations/keys.js'
import {
  chatwootClient, chatwootConversations, type ChatwootConversationsOptions, chatwootInstances, type DeliveryResult
} from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { appWithLogs, type CapturedLogs } from '../helpers/app.js'
import { startSimulator } from '../helpers/simulator.js'

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Whether a Redis on 127.0.0.1:port answers PING. */
function ping (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket()
    const done = (answered: boolean) => {
      socket.destroy()
      resolve(answered)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')))
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
  })
}

interface RedisServer {
  readonly port: number
  readonly running: boolean
  /** Starts it (again) on the same port; resolves once it answers PING. */
  start (): Promise<void>
  /** SIGKILL: its connections drop at once. Resolves once it exited. */
  kill (): Promise<void>
  /** SIGSTOP: connections stay open, nothing is answered. */
  pause (): void
  /** SIGCONT. */
  resume (): void
}

/** A redis-server of the test's own, without persistence, on a free port; killed at teardown. */
async function redisServer (t: Test): Promise<RedisServer> {
  let port = 0
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null

  const start = async () => {
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' })
    child = started
    exited = new Promise((resolve) => {
      started.once('exit', () => resolve())
      started.once('error', () => resolve())
    })
    for (let attempt = 0; attempt < 500; attempt++) {
      if (!alive()) throw new Error(`redis-server on port ${port} ended (${started.exitCode ?? started.signalCode})`)
      if (await ping(port)) return
      await sleep(20)
    }
    throw new Error(`redis-server on port ${port} never answered PING`)
  }
  const kill = async () => {
    if (!alive()) return
    child!.kill('SIGCONT')
    child!.kill('SIGKILL')
    await exited
  }

  // Another test may take the free port between our look and redis-server's bind: try another.
  for (let attempt = 0; ; attempt++) {
    port = await freePort()
    try {
      await start()
      break
    } catch (error) {
      await kill()
      if (attempt === 2) throw error
    }
  }
  t.teardown(kill)
  return {
    get port () { return port },
    get running () { return alive() },
    start,
    kill,
    pause: () => { child?.kill('SIGSTOP') },
    resume: () => { child?.kill('SIGCONT') }
  }
}

/**
 * The host app: @fastify/redis given only host and port (ioredis at its defaults: offline queue on,
 * 20 retries per request, reconnecting forever), the instance in the simulator, the conversations plugin.
 */
async function buildApp (t: Test, sim: ChatwootSimulator, account: CreatedAccount, redis: RedisServer,
  options: ChatwootConversationsOptions): Promise<{ app: FastifyInstance, logs: CapturedLogs }> {
  const { app, logs } = appWithLogs()
  t.teardown(async () => {
    // @fastify/redis quits at close, which needs a Redis that answers.
    redis.resume()
    if (!redis.running) await redis.start()
    await app.close()
  })
  await app.register(fastifyRedis, { host: '127.0.0.1', port: redis.port })
  await app.register(chatwootInstances, {
    resolve: async (name) => name === 'acme'
      ? { chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token } }
      : undefined
  })
  await app.register(chatwootClient)
  await app.register(chatwootConversations, { keyPrefix: `t${randomUUID()}:`, ...options })
  await app.ready()
  // ioredis reports each failed reconnect as an 'error' event; a host app listens (no setting changes).
  app.redis.on('error', () => {})
  return { app, logs }
}

interface Outcome {
  phase: string
  contact: string
  sourceId: string
  ms: number
  result?: DeliveryResult
  error?: Error
}

/** Delivers with a distinct source_id each time and records every outcome; never throws. */
function deliveries (app: FastifyInstance) {
  const outcomes: Outcome[] = []
  const run = randomUUID().slice(0, 8)
  let next = 0
  const deliver = async (phase: string, contact: string): Promise<Outcome> => {
    const sourceId = `${run}-${contact}-${next++}`
    const started = performance.now()
    const outcome: Outcome = { phase, contact, sourceId, ms: 0 }
    try {
      outcome.result = await app.chatwoot.deliver('acme', {
        contact: { identifier: contact, name: `Contact ${contact}` },
        message: { content: `${phase}: message ${sourceId}`, source_id: sourceId }
      })
    } catch (error) {
      outcome.error = error as Error
    }
    outcome.ms = performance.now() - started
    outcomes.push(outcome)
    return outcome
  }
  const round = (phase: string, contacts: string[]) => Promise.all(contacts.map((contact) => deliver(phase, contact)))
  return { outcomes, deliver, round }
}

/** Log lines at `level` whose message matches. */
function logged (logs: CapturedLogs, level: number, pattern: RegExp): number {
  return logs.lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === level && pattern.test(entry.msg ?? '')).length
}

const WARN = 40
const INFO = 30

async function until (condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5)
}

/** Every delivery resolved, and the simulator holds each exactly once, in one conversation per contact. */
async function checkDelivered (t: Test, sim: ChatwootSimulator, account: CreatedAccount, outcomes: Outcome[], contacts: string[]) {
  t.same(outcomes.filter((outcome) => outcome.error !== undefined)
    .map((outcome) => `${outcome.phase} ${outcome.sourceId}: ${outcome.error?.message}`), [], `all ${outcomes.length} deliveries resolved`)

  const messages = await sim.query<{ source_id: string, identifier: string, display_id: number }>(
    `SELECT m.source_id, ct.identifier, c.display_id
       FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id
      WHERE m.account_id = $1 AND m.message_type = 0`, [account.accountId])
  t.equal(messages.length, outcomes.length, `one message per delivery (${outcomes.length})`)
  const stored = new Map(messages.map((message) => [message.source_id, message]))
  t.equal(messages.length - stored.size, 0, 'no duplicate source_id')
  t.same(outcomes.filter((outcome) => !stored.has(outcome.sourceId)).map((outcome) => `${outcome.phase} ${outcome.sourceId}`), [],
    'no delivery lost')
  t.same(outcomes.filter((outcome) => stored.get(outcome.sourceId)?.identifier !== outcome.contact)
    .map((outcome) => outcome.sourceId), [], 'each message is in its own contact\'s conversation')
  t.same(outcomes.filter((outcome) => outcome.result !== undefined && stored.get(outcome.sourceId)?.display_id !== outcome.result.conversationId)
    .map((outcome) => outcome.sourceId), [], 'each result names the conversation the message is in')

  const perContact = await sim.query<{ identifier: string, conversations: number, contact_inboxes: number }>(
    `SELECT ct.identifier,
            (SELECT count(*)::int FROM conversations c WHERE c.contact_id = ct.id) AS conversations,
            (SELECT count(*)::int FROM contact_inboxes ci WHERE ci.contact_id = ct.id) AS contact_inboxes
       FROM contacts ct WHERE ct.account_id = $1 ORDER BY ct.identifier`, [account.accountId])
  t.same(perContact.map((row) => row.identifier), [...contacts].sort(), 'one contact per identifier')
  t.same(perContact.filter((row) => row.conversations !== 1 || row.contact_inboxes !== 1), [],
    'one conversation and one contact_inbox per contact')
}

const describe = (times: number[]) => times.length === 0
  ? 'none'
  : `${Math.min(...times).toFixed(0)}..${Math.max(...times).toFixed(0)} ms`

test('Redis killed mid-stream and started again: every delivery lands once, one warning, cache hits resume',
  { timeout: 120000 }, async (t) => {
    const sim = await startSimulator(t, { messagesPerMinute: 100000 })
    const account = await sim.createAccount()
    const redis = await redisServer(t)
    const { app, logs } = await buildApp(t, sim, account, redis, { redisTimeoutMs: 100, localTtlMs: 1 })
    const { outcomes, deliver, round } = deliveries(app)
    const known = ['c1', 'c2', 'c3', 'c4']
    // c5 first writes during the outage: its conversation is made without the lock and the shared cache.
    const everyone = [...known, 'c5']

    for (let i = 0; i < 10; i++) await round('before', known)
    const before = app.chatwoot.stats()
    t.equal(before.storeErrors, 0, 'no store error while Redis is up')
    t.ok(before.hits > 0, `hits before the outage (${before.hits})`)
    t.equal(logged(logs, WARN, /Redis unavailable/), 0, 'no warning yet')

    await redis.kill()
    await until(() => app.redis.status !== 'ready')
    t.not(app.redis.status, 'ready', `ioredis saw the connection drop (${app.redis.status})`)

    // Each of these would hang on ioredis's offline queue if the plugin sent it commands now.
    const sequential: number[] = []
    for (let i = 0; i < 20; i++) {
      const outcome = await deliver('outage', everyone[i % everyone.length]!)
      sequential.push(outcome.ms)
    }
    t.equal(outcomes.filter((outcome) => outcome.phase === 'outage' && outcome.result !== undefined).length, 20,
      '20 sequential deliveries during the outage all completed (redisTimeout 100)')
    t.comment(`sequential deliveries during the outage: ${describe(sequential)}`)
    for (let i = 0; i < 6; i++) await round('outage', everyone)
    // A dead Redis is not asked (ioredis is not ready): deliveries go on without the shared cache.
    t.ok(outcomes.filter((outcome) => outcome.phase === 'outage').some((outcome) => outcome.result?.cache === 'miss'),
      'deliveries during the outage went on without the shared cache')
    t.equal(logged(logs, WARN, /Redis unavailable/), 1, 'one warning for the outage')

    await redis.start()
    // Deliveries go on while ioredis reconnects at its own pace.
    let reconnecting = 0
    while (app.redis.status !== 'ready') {
      await round('reconnecting', everyone)
      reconnecting++
      await sleep(20)
    }
    t.comment(`${reconnecting} rounds delivered while ioredis reconnected`)
    // While down, the store is probed once a second: deliver until a probe finds Redis back.
    while (logged(logs, INFO, /Redis available again/) === 0) {
      await round('reconnecting', everyone)
      await sleep(50)
    }
    // The restarted Redis is empty: one round writes the conversation ids again.
    await round('refill', everyone)
    const refilled = app.chatwoot.stats()
    for (let i = 0; i < 10; i++) await round('after', everyone)
    const after = app.chatwoot.stats()
    const afterOutcomes = outcomes.filter((outcome) => outcome.phase === 'after')
    t.equal(after.storeErrors, refilled.storeErrors, 'store errors stopped once Redis was back')
    t.equal(after.hits - refilled.hits, afterOutcomes.length, `every delivery after the return was a hit (${after.hits - refilled.hits})`)
    t.same(afterOutcomes.filter((outcome) => outcome.result?.cache !== 'hit').map((outcome) => outcome.sourceId), [],
      'their results say cache: hit')
    t.equal(logged(logs, WARN, /Redis unavailable/), 1, 'still one warning for the one outage')
    t.equal(logged(logs, INFO, /Redis available again/), 1, 'its end logged once')
    t.comment(`stats: ${JSON.stringify(after)}`)

    await checkDelivered(t, sim, account, outcomes, everyone)
  })

test('a Redis that stops answering: each delivery goes on after redisTimeout, and every message lands once',
  { timeout: 120000 }, async (t) => {
    const sim = await startSimulator(t, { messagesPerMinute: 100000 })
    const account = await sim.createAccount()
    const redis = await redisServer(t)
    const keyPrefix = `t${randomUUID()}:`
    const { app, logs } = await buildApp(t, sim, account, redis, { keyPrefix, redisTimeoutMs: 100, localTtlMs: 1 })
    const { outcomes, deliver, round } = deliveries(app)
    const contacts = ['c1', 'c2', 'c3']

    for (let i = 0; i < 5; i++) await round('before', contacts)
    const before = app.chatwoot.stats()
    t.equal(before.storeErrors, 0, 'no store error while Redis answers')

    redis.pause()
    const sequential: number[] = []
    // While Redis is frozen every failed store call is one that waited redisTimeout out.
    const timedOut: number[] = []
    for (let i = 0; i < 10; i++) {
      const errors = app.chatwoot.stats().storeErrors
      const outcome = await deliver('frozen', contacts[i % contacts.length]!)
      sequential.push(outcome.ms)
      timedOut.push(app.chatwoot.stats().storeErrors - errors)
    }
    t.equal(app.redis.status, 'ready', 'ioredis still counts the frozen Redis as connected: only the timeout guards')
    t.equal(outcomes.filter((outcome) => outcome.phase === 'frozen' && outcome.result !== undefined).length, 10,
      '10 sequential deliveries while Redis does not answer all completed (redisTimeout 100)')
    t.ok(sequential[0]! >= 95, `the first of them waited for the timeout (${sequential[0]!.toFixed(0)} ms)`)
    t.comment(`sequential deliveries while Redis is frozen: ${describe(sequential)}`)
    // redisTimeout is 'the longest a delivery waits on Redis before going on without it'.
    t.same(timedOut.filter((calls) => calls > 1), [],
      `a delivery waits out redisTimeout at most once, then goes on without Redis (timed-out store calls per delivery: ${timedOut.join(' ')})`)
    await round('frozen', contacts)
    await round('frozen', contacts)
    const during = app.chatwoot.stats()
    t.ok(during.storeErrors > before.storeErrors, `store errors counted (${during.storeErrors})`)
    t.equal(logged(logs, WARN, /Redis unavailable/), 1, 'one warning for the outage')

    redis.resume()
    // The commands that timed out are still queued in ioredis: Redis runs them now, before this PING.
    await app.redis.ping()
    // No delivery is running: a lock now is one that nobody holds and nobody will release.
    const locks = contacts.map((contact) => conversationKeys(keyPrefix, 'acme', account.accountId, account.inboxId, contact).lock)
    t.equal(await app.redis.exists(...locks), 0, 'no get-or-create lock is left behind by a tryLock that gave up while Redis was frozen')
    // While down, the store is probed once a second: deliver until a probe finds Redis back.
    while (logged(logs, INFO, /Redis available again/) === 0) {
      await round('refill', contacts)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await round('refill', contacts)
    const refilled = app.chatwoot.stats()
    for (let i = 0; i < 5; i++) await round('after', contacts)
    const after = app.chatwoot.stats()
    const afterOutcomes = outcomes.filter((outcome) => outcome.phase === 'after')
    t.equal(after.storeErrors, refilled.storeErrors, 'store errors stopped once Redis answered again')
    t.same(afterOutcomes.filter((outcome) => outcome.result?.cache !== 'hit').map((outcome) => outcome.sourceId), [],
      'deliveries after the return are cache hits')
    t.equal(logged(logs, WARN, /Redis unavailable/), 1, 'still one warning')
    t.equal(logged(logs, INFO, /Redis available again/), 1, 'its end logged once')
    t.comment(`stats: ${JSON.stringify(after)}`)

    // The next get-or-create for a contact (here after an evict; also after a 404 or the ttl) must find the lock free.
    await app.chatwoot.conversations.evict('acme', { identifier: contacts[0]! })
    const waits = app.chatwoot.stats().lockWaits
    const evicted = await deliver('evicted', contacts[0]!)
    t.equal(evicted.result?.cache, 'miss', 'the delivery after the evict looked the conversation up again')
    t.equal(app.chatwoot.stats().lockWaits - waits, 0, `and did not wait on a lock nobody holds (${evicted.ms.toFixed(0)} ms)`)

    await checkDelivered(t, sim, account, outcomes, contacts)
  })
