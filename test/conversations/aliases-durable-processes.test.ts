import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Test, test } from 'tap'
import type { DeliveryContact } from '../../lib/index.js'
import { testDatabase } from '../helpers/app.js'
import { REDIS_URL } from '../helpers/gateway.js'
import { startTestProcess, type TestProcess } from '../helpers/processes.js'
import { startSimulator } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'
import { deadPort } from './fixtures/dead-port.js'
import type { DurableAliasWorkerSettings } from './fixtures/durable-alias-worker.js'

usesServers('postgres', 'redis')

const WORKER = join(__dirname, 'fixtures', 'durable-alias-worker.ts')
const LID = '104612345678901@lid'
const PHONE = '5511999990001@s.whatsapp.net'
const PAIRS = 6

const contact = (which: 'lid' | 'phone', linked: boolean): DeliveryContact => ({
  identifier: which === 'lid' ? LID : PHONE,
  name: 'Ana',
  ...(linked ? { aliases: [which === 'lid' ? PHONE : LID] } : {})
})

/** Sends one delivery line and waits for the worker's answer to it (answers come one a line, in order). */
async function deliver (worker: TestProcess, contactOf: DeliveryContact, index: number): Promise<{ conversationId?: number, error?: string }> {
  const answered = worker.lines.filter((line) => line.startsWith('{')).length
  worker.child.stdin!.write(`${JSON.stringify({ contact: contactOf, message: { content: `message ${index}`, source_id: `m${index}` } })}\n`)
  for (;;) {
    const answers = worker.lines.filter((line) => line.startsWith('{'))
    if (answers.length > answered) return JSON.parse(answers[answered]!)
    await sleep(5)
  }
}

/**
 * Redis down for both processes from the start. The phone id writes first (its own conversation), the lid
 * a second later (the later conversation, so the one that survives the mapping). Then process one learns the
 * mapping (the lid with the phone id as alias) while process two only ever sees the phone id alone.
 */
async function run (t: Test, durable: boolean) {
  const sim = await startSimulator(t, { messagesPerMinute: 100000 })
  const account = await sim.createAccount()
  const databaseUrl = durable ? (await testDatabase(t)).url : undefined
  const settings: DurableAliasWorkerSettings = {
    url: sim.url, accountId: account.accountId, inboxId: account.inboxId, redisUrl: REDIS_URL, keyPrefix: `t${randomUUID()}:`, deadRedisPort: await deadPort(), databaseUrl
  }
  const workers = [0, 1].map((index) => startTestProcess(WORKER, settings, account.token, `worker ${index}`))
  t.teardown(() => {
    for (const { child } of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  await Promise.all(workers.map((worker) => worker.ready))
  const [one, two] = workers as [TestProcess, TestProcess]
  const before = [(await deliver(two, contact('phone', false), 1)).conversationId]
  await sleep(1100)
  before.push((await deliver(one, contact('lid', false), 2)).conversationId)
  const answers = []
  for (let pair = 0; pair < PAIRS; pair++) {
    answers.push(await deliver(one, contact('lid', true), 3 + pair * 2))
    answers.push(await deliver(two, contact('phone', false), 4 + pair * 2))
  }
  for (const worker of workers) worker.child.stdin!.end()
  const exits = await Promise.all(workers.map((worker) => worker.exited))
  t.notOk(exits.some((exit) => exit.stderr.includes(account.token) || exit.lines.some((line) => line.includes(account.token))), 'no process printed the token')
  t.same(answers.filter((answer) => answer.error !== undefined), [], 'every delivery succeeded')
  const rows = await sim.query<{ source_id: string, display_id: number }>(
    `SELECT m.source_id, c.display_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
      WHERE m.account_id = $1 AND m.message_type = 0 ORDER BY m.id`, [account.accountId])
  t.same(rows.map((row) => row.source_id), Array.from({ length: 2 + PAIRS * 2 }, (_, i) => `m${i + 1}`), 'every message stored once, in order')
  return { before, after: answers.map((answer) => answer.conversationId), stored: rows.slice(2).map((row) => row.display_id) }
}

test('Redis down, Postgres on: a process that only sees the phone id follows the mapping another process learnt', { timeout: 120_000 }, async (t) => {
  const { before, after, stored } = await run(t, true)
  t.not(before[0], before[1], 'two conversations before the mapping')
  t.same([...new Set(after)], [before[1]], `from the mapping on, both processes deliver into the lid's later conversation (${after.join(' ')})`)
  t.same([...new Set(stored)], [before[1]], 'Chatwoot agrees')
})

test('Redis down, without Postgres: the process that never saw the mapping keeps the phone id\'s own conversation', { timeout: 120_000 }, async (t) => {
  const { before, after } = await run(t, false)
  t.same([...new Set(after.filter((_, i) => i % 2 === 1))], [before[0]], 'the second process stays in the old conversation: the processes disagree')
  t.same([...new Set(after.filter((_, i) => i % 2 === 0))], [before[1]], 'the first delivers into the survivor')
})
