// Agent replies across two real processes sharing the outbox's database and Redis: a process killed after it
// acknowledged a webhook (mid-send) loses nothing, the same webhook to both sends once, and one conversation's
// replies go out in order while the sender fails for a while, whichever process works them.
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pg from 'pg'
import { test } from 'tap'
import { request } from 'undici'
import { signWebhook } from '../../lib/webhooks/signature.js'
import { testDatabase } from '../helpers/app.js'
import { deleteKeys, REDIS_URL } from '../helpers/gateway.js'
import { startTestProcess, type TestProcess } from '../helpers/processes.js'
import { chatwootApi, contactWithConversation, simulatedAccount } from '../helpers/simulator.js'
import { until } from '../outbox/fixture.js'
import { usesServers } from '../setup/servers.js'
import type { ReplyProcessSettings } from './fixtures/reply-process.js'
import { agentMessage, SECRET, STATUS, storedStatus } from './fixture.js'

usesServers('postgres', 'redis')

const FIXTURE = join(__dirname, 'fixtures', 'reply-process.ts')

type Teardown = Parameters<typeof simulatedAccount>[0]

async function cluster (t: Teardown) {
  const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 100_000 })
  const db = await testDatabase(t)
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  await pool.query('CREATE TABLE sent (id serial PRIMARY KEY, message_id bigint NOT NULL, idempotency_key text NOT NULL, pid int NOT NULL)')
  const keyPrefix = `t${randomUUID()}:`
  const processes: TestProcess[] = []
  t.teardown(async () => {
    for (const { child } of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await Promise.all(processes.map((p) => p.exited))
    await pool.end()
    const redis = new Redis(REDIS_URL)
    await deleteKeys(redis, keyPrefix).finally(() => redis.quit())
  })
  const start = async (extra: Partial<ReplyProcessSettings> = {}) => {
    const settings: ReplyProcessSettings = {
      url: sim.url,
      accountId: account.accountId,
      inboxId: account.inboxId,
      redisUrl: REDIS_URL,
      keyPrefix,
      databaseUrl: db.url,
      webhookSecret: SECRET,
      hang: false,
      failing: {},
      ...extra
    }
    const started = startTestProcess(FIXTURE, settings, account.token, 'reply process')
    processes.push(started)
    await started.ready
    const port = Number(started.lines.find((line) => line.startsWith('port '))!.slice(5))
    return { ...started, port }
  }
  const call = chatwootApi(sim, account)
  const conversation = async (identifier: string) => (await contactWithConversation(call, account.inboxId, identifier)).displayId
  const reply = async (displayId: number, content: string) =>
    (await call('POST', `/conversations/${displayId}/messages`, { body: { content, message_type: 'outgoing' } })).body.id as number
  const sent = async () => (await pool.query<{ message_id: string, pid: number, idempotency_key: string }>('SELECT message_id, pid, idempotency_key FROM sent ORDER BY id')).rows
  const attempts = async (messageId: number) =>
    Number((await pool.query('SELECT attempts FROM chatwoot_outbox.entries WHERE kind = $1 AND source_id = $2', ['agent-reply', String(messageId)])).rows[0]?.attempts)
  return { sim, account, start, conversation, reply, sent, attempts }
}

/** Posts one message_created to a process as Chatwoot does: signed, its own delivery id. */
async function deliver (port: number, messageId: number, displayId: number) {
  const body = JSON.stringify(agentMessage(messageId, displayId))
  const timestamp = Math.floor(Date.now() / 1000)
  const answer = await request(`http://127.0.0.1:${port}/chatwoot/webhooks/acme`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-chatwoot-delivery': randomUUID(),
      'x-chatwoot-timestamp': String(timestamp),
      'x-chatwoot-signature': signWebhook(SECRET, timestamp, body)
    },
    body
  })
  return { status: answer.statusCode, body: await answer.body.json() }
}

test('a process SIGKILLed mid-send after acknowledging: the other sends the reply, once', { timeout: 60_000 }, async (t) => {
  const { sim, start, conversation, reply, sent } = await cluster(t)
  const displayId = await conversation('killed@s.whatsapp.net')
  const messageId = await reply(displayId, 'Your order shipped')
  const doomed = await start({ hang: true })
  t.same(await deliver(doomed.port, messageId, displayId), { status: 200, body: { action: 'agent-message' } }, 'acknowledged')
  await until(async () => doomed.lines.includes(`sending ${messageId}`), 15_000, 'the doomed process sending')
  doomed.child.kill('SIGKILL')
  await doomed.exited
  const survivor = await start()
  t.same(await deliver(survivor.port, messageId, displayId), { status: 200, body: { action: 'ignored', duplicate: 'message' } },
    'the same webhook again, to the other process: already stored')
  await until(async () => (await sent()).length === 1, 20_000, 'the reply sent by the survivor')
  await until(async () => (await storedStatus(sim, messageId))?.status === STATUS.sent, 10_000, 'marked sent in Chatwoot')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const rows = await sent()
  t.same(rows.map((row) => [Number(row.message_id), row.pid]), [[messageId, survivor.child.pid]], 'once, by the survivor')
})

test('the same webhooks to two processes at once: each reply sent once; one conversation in order while its sender fails', { timeout: 60_000 }, async (t) => {
  const { start, conversation, reply, sent, attempts } = await cluster(t)
  const displayId = await conversation('order@s.whatsapp.net')
  const other = await conversation('other@s.whatsapp.net')
  const ids: number[] = []
  for (let n = 0; n < 6; n++) ids.push(await reply(displayId, `reply ${n}`))
  const otherId = await reply(other, 'other conversation')
  // The first reply fails 3 times in each process: the conversation waits for it, the other one does not.
  const failing = { [String(ids[0])]: 3 }
  const [one, two] = await Promise.all([start({ failing }), start({ failing })])
  // As Chatwoot sends them, one message after the other; each one to both processes at once.
  const answers = []
  for (const id of [...ids, otherId]) {
    const where = id === otherId ? other : displayId
    answers.push(...await Promise.all([deliver(one.port, id, where), deliver(two.port, id, where)]))
  }
  t.ok(answers.every((answer) => answer.status === 200))
  t.equal(answers.filter((answer) => (answer.body as { action: string }).action === 'agent-message').length, 7, 'each message taken once')
  await until(async () => (await sent()).length === 7, 30_000, 'seven replies sent')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const rows = await sent()
  t.equal(rows.length, 7, 'none twice')
  t.same(rows.map((row) => Number(row.message_id)).filter((id) => id !== otherId), ids, 'the conversation\'s replies in order')
  t.ok(rows.findIndex((row) => Number(row.message_id) === otherId) < rows.findIndex((row) => Number(row.message_id) === ids[0]),
    'the other conversation did not wait for the failing reply')
  t.ok(new Set(rows.map((row) => row.idempotency_key)).size === 7)
  t.ok(await attempts(ids[0]!) >= 3, 'the first reply failed at least 3 times before it was sent')
})
