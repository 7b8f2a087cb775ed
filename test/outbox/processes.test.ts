import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { test } from 'tap'
import { testDatabase } from '../helpers/app.js'
import { deleteKeys, REDIS_URL } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import type { OutboxWorkerSettings } from './fixtures/outbox-worker.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { holdingProxy } from './hold-proxy.js'
import { type Replica, startReplica } from './replicas.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

type Teardown = Parameters<typeof simulatedAccount>[0]

/** A simulator, a fresh outbox database, an app that only enqueues, and a way to start replicas on them. */
async function cluster (t: Teardown, replica: Partial<OutboxWorkerSettings> = {}) {
  const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 100_000 })
  const db = await testDatabase(t)
  const keyPrefix = `t${randomUUID()}:`
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, databaseUrl: db.url, outbox: { worker: false } })
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  const replicas: Replica[] = []
  t.teardown(async () => {
    for (const r of replicas) r.kill()
    await Promise.all(replicas.map((r) => r.exited))
    await pool.end()
    const redis = new Redis(REDIS_URL)
    await deleteKeys(redis, keyPrefix).finally(() => redis.quit())
  })
  const settings: OutboxWorkerSettings = {
    url: sim.url,
    accountId: account.accountId,
    inboxId: account.inboxId,
    keyPrefix,
    redisUrl: REDIS_URL,
    databaseUrl: db.url,
    concurrency: 4,
    leaseMs: 2000,
    clientTimeoutMs: 800,
    slowChatwootMs: 500,
    ...replica
  }
  const start = (extra: Partial<OutboxWorkerSettings> = {}) => {
    const started = startReplica({ ...settings, ...extra }, account.token)
    replicas.push(started)
    return started
  }
  const count = async (sql: string) => Number((await pool.query(sql.replace(/\$s\./g, 'chatwoot_outbox.'))).rows[0].n)
  return { sim, account, outbox, pool, start, count }
}

// More lanes than the replicas' 12 loops, so every replica holds lanes whenever it is killed.
const CONTACTS = 16
const PER_CONTACT = 15

test(`3 replicas drain ${CONTACTS * PER_CONTACT} messages, 10 posts failing, one replica SIGKILLed mid-post: 0 lost, 0 duplicated, per-contact order`,
  { timeout: 120_000 }, async (t) => {
    const { sim, account, outbox, pool, start, count } = await cluster(t)
    // Ten posts fail first (order must hold while one is failing); then every post takes 150 ms in Chatwoot,
    // so a killed replica has posts in flight that land after it died.
    sim.faults.add({ method: 'POST', path: /\/messages$/, status: 503, times: 10 })
    sim.faults.add({ method: 'POST', path: /\/messages$/, delayMs: 150, times: Infinity })
    const order = new Map<string, string[]>()
    for (let index = 0; index < PER_CONTACT; index++) {
      for (let contact = 0; contact < CONTACTS; contact++) {
        const identifier = `c${contact}`
        const sourceId = `${identifier}-m${index}`
        await outbox.enqueue('acme', { contact: { identifier, name: identifier }, message: { content: sourceId, source_id: sourceId } })
        order.set(identifier, [...(order.get(identifier) ?? []), sourceId])
      }
    }
    const replicas = [start(), start(), start()]
    await Promise.all(replicas.map((r) => r.ready))
    await until(async () => replicas[0]!.lines.filter((line) => line.startsWith('delivered')).length >= 10, 30_000, 'replica 0 delivering')
    replicas[0]!.kill()
    const killed = await replicas[0]!.exited
    t.equal(killed.signal, 'SIGKILL', 'replica 0 was killed')
    // Leases live replicas hold turn over within an attempt (~150 ms); the killed replica's stay until they expire.
    const atKill = (await pool.query('SELECT lease_owner FROM chatwoot_outbox.lanes WHERE lease_until > now()')).rows.map((row) => row.lease_owner)
    await new Promise((resolve) => setTimeout(resolve, 800))
    const orphaned = Number((await pool.query('SELECT count(*) AS n FROM chatwoot_outbox.lanes WHERE lease_owner = ANY($1)', [atKill])).rows[0].n)
    t.ok(orphaned > 0, `the killed replica held ${orphaned} lanes, left to expire and be taken over`)

    await until(async () => (await outbox.outbox.stats()).delivered === CONTACTS * PER_CONTACT, 90_000, 'every entry delivered')
    for (const r of replicas.slice(1)) await r.stop()
    t.equal(await count('SELECT count(*) AS n FROM $s.lanes WHERE lease_owner IS NOT NULL'), 0, 'the replicas that closed released every lease')

    for (const [identifier, expected] of order) {
      const stored = (await messagesOf(sim, account, identifier)).map((m) => m.source_id)
      t.same(stored, expected, `${identifier}: all ${expected.length} once, in enqueue order`)
    }
    const waited = await count('SELECT count(*) AS n FROM $s.entries WHERE last_error_code = \'FST_CHATWOOT_OUTBOX_TAKEN_OVER\'')
    const deduplicated = await count('SELECT count(*) AS n FROM $s.entries WHERE deduplicated')
    t.comment(`lanes orphaned by the kill: ${orphaned}; entries whose post was under way (waited, then checked): ${waited}; found already stored: ${deduplicated}`)
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM chatwoot_outbox.entries WHERE state <> \'delivered\'')
    t.equal(rows[0].n, 0, 'nothing dead or left queued')
  })

test('a replica killed while its post\'s answer was on the way: the entry is taken over after the lease, checked, not posted again',
  { timeout: 60_000 }, async (t) => {
    const { sim, account, outbox, pool, start } = await cluster(t, { slowChatwootMs: 1000 })
    const proxy = await holdingProxy(sim.url)
    t.teardown(() => proxy.close())
    const held = (sourceId: string) => outbox.enqueue('acme', { contact: { identifier: 'held', name: 'held' }, message: { content: sourceId, source_id: sourceId } })
    // A first message makes the contact and its conversation (cached in the shared Redis), so the held call is the post itself.
    await held('warmup')
    const warm = start({ concurrency: 1 })
    await until(async () => (await outbox.outbox.stats()).delivered === 1, 30_000, 'the warm-up delivered')
    await warm.stop()
    await held('once')
    await held('after')
    const first = start({ concurrency: 1, url: proxy.url })
    await first.ready
    // Chatwoot stored the post; its answer is held, so the replica is still waiting for it when killed.
    await until(async () => (await messagesOf(sim, account, 'held')).length === 2, 30_000, 'the post stored')
    first.kill()
    await first.exited
    const second = start({ concurrency: 1 })
    await second.ready
    await until(async () => (await outbox.outbox.stats()).delivered === 3, 30_000, 'both delivered by the second replica')
    const stored = (await messagesOf(sim, account, 'held')).map((m) => m.source_id)
    t.same(stored, ['warmup', 'once', 'after'], 'the message the killed replica posted is there once, and the next after it')
    const { rows } = await pool.query('SELECT deduplicated, attempts FROM chatwoot_outbox.entries WHERE source_id = \'once\'')
    t.match(rows[0], { deduplicated: true, attempts: 2 }, 'the second replica found it stored and did not post it again')
  })
