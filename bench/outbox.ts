import { createHash } from 'node:crypto'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { createChatwootSimulator, createTestDatabase, serverUrl } from '../dist/testing/index.js'
import { atMost, figureOf, measure, type MeasureOptions, type SuiteResult } from './measure.js'
import { countingPool, deliveredCounter, median, outboxGateway, percentile } from './outbox-setup.js'

export const title = 'chatwootOutbox: enqueue against a bare INSERT, a drained backlog and idle latency against direct deliver()'
export const options: MeasureOptions = { operations: 300, concurrency: 4, rounds: 5 }

const INSTANCE = 'bench'
const CONTACTS = 50
// A message of a common chat's size: the stored row and the bare row carry the same bytes.
const CONTENT = 'benchmark message: '.padEnd(160, 'x')
const BACKLOG = 200
const BACKLOG_ROUNDS = 5
const LATENCY_SAMPLES = 100
// The outbox's default per-origin budget (2400 requests a minute, for Chatwoot's 3000) would be the
// figure measured; lifted here, as the simulator's per-conversation limit is, to measure the outbox.
const REQUESTS_PER_MINUTE = 1_000_000
const WORKER_CONCURRENCY = 4
// The simulator answers a post in a few milliseconds of this machine's CPU, which the outbox's own
// statements then compete for; a real Chatwoot is a network hop and a Rails request away. The drain is
// also measured with every post held this long (a sleep, no CPU) to show what the outbox costs there.
const REMOTE_POST_MS = 20

export async function run (measureOptions: MeasureOptions): Promise<SuiteResult> {
  const loadBefore = loadavg()
  const sim = await createChatwootSimulator({ database: serverUrl(), messagesPerMinute: Number.MAX_SAFE_INTEGER })
  const account = await sim.createAccount()
  const database = await createTestDatabase()
  const keyPrefix = `benchoutbox${Date.now()}:`
  // Two apps on one database: one only enqueues (its own schema, no worker, so enqueue is measured
  // alone), the other works the default schema and is the one direct deliver() goes through.
  const producer = await outboxGateway(sim, account, keyPrefix, database.url, { schema: 'bench_enqueue', worker: false })
  // The plugin's own pool would be the same (max: its concurrency + 4); this one counts statements.
  const workerDb = countingPool(database.url, WORKER_CONCURRENCY + 4)
  const app = await outboxGateway(sim, account, keyPrefix, database.url, {
    pool: workerDb.pool,
    requestsPerMinute: REQUESTS_PER_MINUTE,
    concurrency: WORKER_CONCURRENCY
  })
  const host = new pg.Pool({ connectionString: database.url, max: measureOptions.concurrency + 1 })
  const delivered = deliveredCounter()
  const contacts = Array.from({ length: CONTACTS }, (_, i) => ({ identifier: `55119${String(i).padStart(6, '0')}@s.whatsapp.net` }))
  let next = 0
  const nextMessage = () => {
    const n = next++
    return { contact: contacts[n % CONTACTS]!, message: { content: CONTENT, message_type: 'incoming' as const, source_id: `bench:${keyPrefix}${n}` } }
  }
  try {
    // Warm: every contact has its conversation cached, so both sides post one message per message.
    for (let i = 0; i < CONTACTS; i += 10) {
      await Promise.all(contacts.slice(i, i + 10).map((contact) => app.chatwoot.deliver(INSTANCE, { contact, message: { content: 'warm-up' } })))
    }

    // 1. Enqueue against a bare INSERT of the same row into a table of the same shape and indexes.
    await host.query('CREATE TABLE bench_enqueue.bare (LIKE bench_enqueue.entries INCLUDING ALL)')
    const hash = createHash('sha256').update(CONTENT).digest('hex')
    let bareSeq = 0
    const enqueueFigures = await measure([
      {
        name: 'bare INSERT of the row (baseline)',
        run: () => {
          const { contact, message } = nextMessage()
          const payload = JSON.stringify({ contact, message })
          return host.query(`INSERT INTO bench_enqueue.bare (instance, kind, lane, seq, contact_key, source_id, payload, payload_hash, payload_bytes)
            VALUES ($1, 'message', $2, $3, $2, $4, $5, $6, $7)`,
          [INSTANCE, contact.identifier, ++bareSeq, message.source_id, payload, hash, Buffer.byteLength(payload)])
        }
      },
      { name: 'fastify.chatwoot.enqueue()', run: () => producer.chatwoot.enqueue(INSTANCE, nextMessage()) }
    ], measureOptions)
    const { rows: [sized] } = await host.query<{ bytes: number }>('SELECT max(payload_bytes) AS bytes FROM bench_enqueue.entries')

    // 2. A backlog committed at once (the host's own transaction), then drained by the workers, against
    // the same number of direct deliver() calls at the workers' concurrency; rounds take turns going first.
    const direct = async () => {
      const started = performance.now()
      let left = BACKLOG
      await Promise.all(Array.from({ length: WORKER_CONCURRENCY }, async () => {
        while (left-- > 0) await app.chatwoot.deliver(INSTANCE, nextMessage())
      }))
      return performance.now() - started
    }
    const drained = async () => {
      const target = delivered.done + BACKLOG
      const db = await host.connect()
      try {
        await db.query('BEGIN')
        for (let i = 0; i < BACKLOG - 1; i++) await app.chatwoot.enqueue(INSTANCE, nextMessage(), { db })
        await db.query('COMMIT')
      } finally {
        db.release()
      }
      // The last one outside the transaction wakes the workers, as a host's next enqueue would.
      const started = performance.now()
      const queriesBefore = workerDb.queries
      await app.chatwoot.enqueue(INSTANCE, nextMessage())
      await delivered.reach(target)
      const ms = performance.now() - started
      drainQueries.push((workerDb.queries - queriesBefore) / BACKLOG)
      return ms
    }
    let drainQueries: number[] = []
    const throughput = (ms: number) => BACKLOG / (ms / 1000)
    const drainRounds = async (what: string) => {
      // One round of each unmeasured, as the contacts were warmed above: the worker's connections are open and
      // its statements prepared, and each lane has delivered before (a drain's steady state, not its first).
      await direct()
      await drained()
      const directMs: number[] = []
      const drainedMs: number[] = []
      drainQueries = []
      for (let round = 0; round < BACKLOG_ROUNDS; round++) {
        if (round % 2 === 1) drainedMs.push(await drained())
        directMs.push(await direct())
        if (round % 2 === 0) drainedMs.push(await drained())
      }
      return {
        ratio: median(drainedMs.map((value, i) => value / directMs[i]!)),
        figures: [
          figureOf(`${BACKLOG} direct deliver()${what} (baseline)`, directMs.map(throughput), directMs.map(() => 1)),
          figureOf(`backlog of ${BACKLOG} drained by the outbox${what}`, drainedMs.map(throughput), drainedMs.map((ms, i) => directMs[i]! / ms))
        ]
      }
    }
    const local = await drainRounds('')
    const statementsPerEntry = median(drainQueries)
    sim.faults.add({ method: 'POST', path: /\/messages$/, delayMs: REMOTE_POST_MS, times: Infinity })
    const remote = await drainRounds(`, posts held ${REMOTE_POST_MS} ms`)
    sim.faults.clear()

    // 3. Idle: one message at a time, enqueue-to-delivered against deliver()'s own call, interleaved.
    const directLatency: number[] = []
    const outboxLatency: number[] = []
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      let started = performance.now()
      await app.chatwoot.deliver(INSTANCE, nextMessage())
      directLatency.push(performance.now() - started)
      const target = delivered.done + 1
      started = performance.now()
      await app.chatwoot.enqueue(INSTANCE, nextMessage())
      await delivered.reach(target)
      outboxLatency.push(performance.now() - started)
    }
    const ms = (value: number) => Number(value.toFixed(2))
    const [p50Direct, p50Outbox] = [median(directLatency), median(outboxLatency)]
    const [p99Direct, p99Outbox] = [percentile(directLatency, 0.99), percentile(outboxLatency, 0.99)]
    const loadAfter = loadavg()
    return {
      figures: [...enqueueFigures, ...local.figures, ...remote.figures],
      goals: [atMost('backlog drain wall time over direct deliver() (x)', Number(local.ratio.toFixed(3)), 1.25, 'x (1.25 = 0.8x throughput)')],
      facts: {
        'stored payload bytes': sized?.bytes ?? 0,
        backlog: `${BACKLOG_ROUNDS} alternating rounds of ${BACKLOG} over ${CONTACTS} contacts after one unmeasured round of each, workers ${WORKER_CONCURRENCY}, direct concurrency ${WORKER_CONCURRENCY}`,
        'outbox statements per delivered entry (drain)': ms(statementsPerEntry),
        'drain wall time over direct deliver(), posts held (x)': Number(remote.ratio.toFixed(3)),
        'requestsPerMinute (lifted)': REQUESTS_PER_MINUTE,
        'idle p50 direct deliver() ms': ms(p50Direct),
        'idle p50 enqueue-to-delivered ms': ms(p50Outbox),
        'idle p50 ratio (outbox/direct)': ms(p50Outbox / p50Direct),
        'idle p99 direct deliver() ms': ms(p99Direct),
        'idle p99 enqueue-to-delivered ms': ms(p99Outbox),
        'idle p99 ratio (outbox/direct)': ms(p99Outbox / p99Direct),
        'latency samples': LATENCY_SAMPLES,
        'load average 1/5/15 min, before': loadBefore.map((load) => load.toFixed(2)).join(' / '),
        'load average 1/5/15 min, after': loadAfter.map((load) => load.toFixed(2)).join(' / ')
      }
    }
  } finally {
    delivered.close()
    await host.end()
    await app.redis.eval('for _, key in ipairs(redis.call(\'KEYS\', ARGV[1])) do redis.call(\'DEL\', key) end return 0', 0, `${keyPrefix}*`)
    await Promise.all([app.close(), producer.close()])
    await workerDb.pool.end()
    await database.drop()
    await sim.close()
  }
}
