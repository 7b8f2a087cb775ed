import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { test } from 'tap'
import { startSimulator } from '../helpers/simulator.js'
import { REDIS_URL } from '../helpers/gateway.js'
import { startTestProcess } from '../helpers/processes.js'
import { usesServers } from '../setup/servers.js'
import type { WorkerSettings, WorkerSummary } from './fixtures/deliver-worker.js'

usesServers('postgres', 'redis')

const WORKER = join(__dirname, 'fixtures', 'deliver-worker.ts')
const WORKERS = 4
const DELIVERIES = 100

interface Worker {
  child: ChildProcess
  /** Resolves when the worker printed 'ready' (its app is up and waits for 'go'). */
  ready: Promise<void>
  /** Resolves when the worker exited: its code, signal, stdout lines and stderr. */
  done: Promise<{ code: number | null, signal: NodeJS.Signals | null, lines: string[], stderr: string }>
}

function startWorker (settings: WorkerSettings, token: string): Worker {
  const { child, ready, exited } = startTestProcess(WORKER, settings, token, `worker ${settings.worker}`)
  return { child, ready, done: exited }
}

test(`${WORKERS} processes x ${DELIVERIES} concurrent first deliveries for one new contact make one contact, one contact_inbox, one conversation`,
  { timeout: 120000 }, async (t) => {
    const sim = await startSimulator(t, { messagesPerMinute: 100000 })
    const account = await sim.createAccount()
    const keyPrefix = `t${randomUUID()}:`
    const identifier = `contact-${randomUUID()}`

    const workers = Array.from({ length: WORKERS }, (_, worker) => startWorker({
      worker,
      url: sim.url,
      accountId: account.accountId,
      inboxId: account.inboxId,
      keyPrefix,
      identifier,
      deliveries: DELIVERIES,
      redisUrl: REDIS_URL
    }, account.token))
    t.teardown(async () => {
      for (const { child } of workers) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
      const redis = new Redis(REDIS_URL)
      const keys = await redis.keys(`${keyPrefix}*`)
      if (keys.length > 0) await redis.del(...keys)
      await redis.quit()
    })

    // Every worker has its app up before any delivers, so their first deliveries really overlap.
    await Promise.all(workers.map((worker) => worker.ready))
    for (const { child } of workers) child.stdin!.end('go\n')
    const outcomes = await Promise.all(workers.map((worker) => worker.done))

    const summaries: WorkerSummary[] = []
    for (const [index, outcome] of outcomes.entries()) {
      t.equal(outcome.code, 0, `worker ${index} exited 0${outcome.code === 0 ? '' : `: ${outcome.stderr}`}`)
      t.notOk(outcome.stderr.includes(account.token), `worker ${index} did not print the token`)
      t.notOk(outcome.lines.some((line) => line.includes(account.token)), `worker ${index} did not print the token on stdout`)
      const last = outcome.lines.filter((line) => line.startsWith('{')).at(-1)
      t.ok(last, `worker ${index} printed a summary`)
      if (last !== undefined) summaries.push(JSON.parse(last))
    }
    t.equal(summaries.length, WORKERS, 'every worker reported')
    for (const summary of summaries) {
      t.equal(summary.count, DELIVERIES, `worker ${summary.worker}: every delivery resolved`)
      t.equal(summary.conversationIds.length, 1, `worker ${summary.worker}: one conversation id seen (${summary.conversationIds.join(', ')})`)
      t.equal(summary.contactIds.length, 1, `worker ${summary.worker}: one contact id seen`)
      t.equal(summary.storeErrors, 0, `worker ${summary.worker}: Redis answered every call`)
    }
    const seen = [...new Set(summaries.flatMap((summary) => summary.conversationIds))]
    t.equal(seen.length, 1, `every worker saw the same single conversation id (${seen.join(', ')})`)
    t.equal(summaries.reduce((sum, summary) => sum + summary.creates, 0), 1,
      'exactly one get-or-create ran across the processes (the others waited on the lock or hit the shared cache)')
    t.comment(`per worker (hits/misses/creates/lockWaits): ${summaries.map((s) => `${s.hits}/${s.misses}/${s.creates}/${s.lockWaits}`).join(' ')}`)

    const contacts = await sim.query('SELECT id FROM contacts WHERE account_id = $1', [account.accountId])
    t.equal(contacts.length, 1, 'one contact in the account')
    const withIdentifier = await sim.query('SELECT id FROM contacts WHERE account_id = $1 AND identifier = $2', [account.accountId, identifier])
    t.equal(withIdentifier.length, 1, 'it is the contact of the identifier')
    const contactInboxes = await sim.query('SELECT ci.id FROM contact_inboxes ci JOIN contacts c ON c.id = ci.contact_id WHERE c.account_id = $1',
      [account.accountId])
    t.equal(contactInboxes.length, 1, 'one contact_inbox')
    const conversations = await sim.query<{ id: number, display_id: number, contact_id: string }>(
      'SELECT id, display_id, contact_id FROM conversations WHERE account_id = $1', [account.accountId])
    t.equal(conversations.length, 1, 'one conversation in the account')
    t.equal(conversations[0]?.display_id, seen[0], 'the conversation every worker saw')
    t.equal(Number(conversations[0]?.contact_id), withIdentifier[0]?.id, 'it belongs to the contact')

    const messages = await sim.query<{ source_id: string, conversation_id: number }>(
      'SELECT source_id, conversation_id FROM messages WHERE account_id = $1 AND message_type = 0', [account.accountId])
    t.equal(messages.length, WORKERS * DELIVERIES, `${WORKERS * DELIVERIES} incoming messages`)
    const sourceIds = new Set(messages.map((message) => message.source_id))
    t.equal(messages.length - sourceIds.size, 0, 'no duplicate source_id')
    const expected = Array.from({ length: WORKERS }, (_, worker) =>
      Array.from({ length: DELIVERIES }, (_, index) => `${keyPrefix}w${worker}-m${index}`)).flat()
    t.same(expected.filter((sourceId) => !sourceIds.has(sourceId)), [], 'no delivery lost')
    t.ok(messages.every((message) => message.conversation_id === conversations[0]?.id), 'every message is in that conversation')
  })
