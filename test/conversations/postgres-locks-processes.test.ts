import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { type Test, test } from 'tap'
import { REDIS_URL } from '../helpers/gateway.js'
import { testDatabase } from '../helpers/app.js'
import { startTestProcess } from '../helpers/processes.js'
import { startSimulator } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'
import { deadPort } from './fixtures/dead-port.js'
import type { LockWorkerSettings, LockWorkerSummary } from './fixtures/postgres-lock-worker.js'

usesServers('postgres', 'redis')

// Issue 13: "while Redis was down, 16 of 25 new contacts reaching two processes got two conversations".
const WORKER = join(__dirname, 'fixtures', 'postgres-lock-worker.ts')
const CONTACTS = 25
const PROCESSES = 2
const CREATE_DELAY_MS = 200

/** Rows ever inserted into the lock table (the statistics collector's count, flushed when the workers' sessions end). */
async function lockRowsInserted (databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    let inserted = 0
    for (let i = 0; i < 40 && inserted === 0; i++) {
      await client.query('SELECT pg_stat_clear_snapshot()')
      const { rows } = await client.query<{ n: string }>(
        "SELECT n_tup_ins AS n FROM pg_stat_user_tables WHERE schemaname = 'fastify_chatwoot' AND relname = 'locks'")
      inserted = Number(rows[0]?.n ?? 0)
      if (inserted === 0) await sleep(100)
    }
    return inserted
  } finally {
    await client.end()
  }
}

interface Run {
  summaries: LockWorkerSummary[]
  /** identifier -> conversations the contact has in Chatwoot. */
  perContact: Map<string, number>
  messages: number
}

/** Two processes deliver one message each to the same 25 new contacts, all at once. */
async function runPair (t: Test, redis: LockWorkerSettings['redis'], databaseUrl: string | undefined): Promise<Run> {
  const sim = await startSimulator(t, { messagesPerMinute: 100000 })
  const account = await sim.createAccount()
  // A Chatwoot that takes a moment to create a conversation, as a loaded one does: the window in which a
  // second process, finding none yet, would create another.
  sim.faults.add({ method: 'POST', path: /\/conversations$/, delayMs: CREATE_DELAY_MS, times: Infinity })
  const keyPrefix = `t${randomUUID().slice(0, 8)}:`
  const contacts = Array.from({ length: CONTACTS }, (_, i) => `${keyPrefix}contact-${i}`)
  const port = await deadPort()
  const workers = Array.from({ length: PROCESSES }, (_, worker) => startTestProcess(WORKER, {
    worker,
    url: sim.url,
    accountId: account.accountId,
    inboxId: account.inboxId,
    redisUrl: REDIS_URL,
    keyPrefix,
    contacts,
    redis,
    deadRedisPort: port,
    databaseUrl
  } satisfies LockWorkerSettings, account.token, `worker ${worker}`))
  t.teardown(() => {
    for (const { child } of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  await Promise.all(workers.map((worker) => worker.ready))
  for (const { child } of workers) child.stdin!.end('go\n')
  const outcomes = await Promise.all(workers.map((worker) => worker.exited))

  const summaries: LockWorkerSummary[] = []
  for (const [index, outcome] of outcomes.entries()) {
    t.equal(outcome.code, 0, `worker ${index} exited 0${outcome.code === 0 ? '' : `: ${outcome.stderr}`}`)
    t.notOk(outcome.stderr.includes(account.token) || outcome.lines.some((line) => line.includes(account.token)), `worker ${index} never printed the token`)
    const last = outcome.lines.filter((line) => line.startsWith('{')).at(-1)
    if (last !== undefined) summaries.push(JSON.parse(last))
  }
  t.equal(summaries.length, PROCESSES, 'every worker reported')
  t.same(summaries.flatMap((summary) => summary.failures), [], 'every delivery resolved')

  const rows = await sim.query<{ identifier: string, conversations: number }>(
    `SELECT ct.identifier, (SELECT count(*)::int FROM conversations c WHERE c.contact_id = ct.id) AS conversations
       FROM contacts ct WHERE ct.account_id = $1`, [account.accountId])
  const [stored] = await sim.query<{ count: number }>('SELECT count(*)::int AS count FROM messages WHERE account_id = $1 AND message_type = 0',
    [account.accountId])
  return { summaries, perContact: new Map(rows.map((row) => [row.identifier, row.conversations])), messages: stored?.count ?? 0 }
}

function checkOnePerContact (t: Test, run: Run) {
  t.equal(run.perContact.size, CONTACTS, `${CONTACTS} contacts in Chatwoot (one per identifier)`)
  t.same([...run.perContact].filter(([, conversations]) => conversations !== 1), [], 'exactly one conversation per contact')
  t.equal(run.messages, CONTACTS * PROCESSES, `all ${CONTACTS * PROCESSES} messages stored`)
  for (const summary of run.summaries) {
    const other = run.summaries.find((s) => s !== summary)!
    t.same(Object.keys(summary.conversations).filter((contact) => summary.conversations[contact] !== other.conversations[contact]), [],
      `worker ${summary.worker}: every contact's message landed in the conversation the other worker used`)
  }
}

test(`Redis down, the Postgres lock store on: ${CONTACTS} new contacts each delivered by ${PROCESSES} processes at once get ${CONTACTS} conversations`,
  { timeout: 120_000 }, async (t) => {
    const db = await testDatabase(t)
    const run = await runPair(t, 'down', db.url)
    checkOnePerContact(t, run)
    const waits = run.summaries.reduce((sum, summary) => sum + summary.lockWaits, 0)
    t.comment(`creates per worker ${run.summaries.map((s) => s.creates).join('/')}, lock waits ${waits}`)
    t.ok(await lockRowsInserted(db.url) >= CONTACTS, 'the lock rows were written in Postgres (at least one per contact)')
    t.ok(waits > 0, `a worker waited on the other's Postgres lock (${waits} waits)`)
  })

test(`no Redis at all (redis: false), the Postgres lock store on: still one conversation per contact across ${PROCESSES} processes`,
  { timeout: 120_000 }, async (t) => {
    const db = await testDatabase(t)
    const run = await runPair(t, 'none', db.url)
    checkOnePerContact(t, run)
    t.ok(await lockRowsInserted(db.url) >= CONTACTS, 'the lock rows were written in Postgres')
  })

test('Redis down, without the Postgres lock store: the in-process lock alone lets duplicates through', { timeout: 120_000 }, async (t) => {
  const run = await runPair(t, 'down', undefined)
  const doubled = [...run.perContact].filter(([, conversations]) => conversations > 1).length
  t.comment(`${doubled} of ${CONTACTS} contacts got more than one conversation`)
  t.equal(run.messages, CONTACTS * PROCESSES, 'every message was stored (only the conversations are doubled)')
  t.ok(doubled > 0, `duplicates occur without a cross-process lock (${doubled} of ${CONTACTS})`)
})
