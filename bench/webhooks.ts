import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import pg from 'pg'
import { Agent, request } from 'undici'
import fastifyChatwoot, { signWebhook } from '../dist/index.js'
import { createChatwootSimulator, createTestDatabase, serverUrl } from '../dist/testing/index.js'
import { figureOf, measure, type MeasureOptions, type SuiteResult } from './measure.js'

export const title = 'chatwootWebhooks: a signed webhook acknowledged against a bare Fastify route, agent replies through the outbox against in-process'
export const options: MeasureOptions = { operations: 300, concurrency: 5, rounds: 5 }

const INSTANCE = 'bench'
const SECRET = 'whsec-bench-0123456789abcdef'
const CONVERSATIONS = 10
const BATCH = 200
const BATCH_ROUNDS = 3
const POST_CONCURRENCY = 8
// Agent messages made in Chatwoot's table up front: each reply needs a real one (its status is set there).
const SEEDED = 5000

interface Reply { id: number, displayId: number }

/** A gateway with the umbrella, its webhooks counting the replies handled; with the outbox or without. */
async function webhookApp (sim: { url: string }, account: { accountId: number, inboxId: number, token: string }, keyPrefix: string,
  outboxUrl: string | undefined, handled: () => void) {
  const app = Fastify()
  await app.register(fastifyRedis, { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
  await app.register(fastifyChatwoot, {
    instances: { resolve: () => ({ chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token, webhookSecret: SECRET } }) },
    postgres: false,
    client: { connections: 16 },
    conversations: { keyPrefix },
    // The budget lifted as in the outbox suite: the default 2,400 requests a minute would be the figure measured.
    ...(outboxUrl === undefined ? {} : { outbox: { connectionString: outboxUrl, pollMs: 50, requestsPerMinute: 1_000_000 } }),
    webhooks: { keyPrefix, onAgentMessage: () => handled() }
  })
  // The baseline: a host route as Fastify gives it, JSON parsed, answering 200.
  app.post('/bare', async () => ({ ok: true }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

/** Counts handler calls and lets a caller wait for a count. */
function counter () {
  let done = 0
  let waiter: { count: number, resolve: () => void } | undefined
  return {
    hit () {
      done++
      if (waiter !== undefined && done >= waiter.count) waiter.resolve()
    },
    get done () { return done },
    reach (count: number, timeoutMs = 60_000): Promise<void> {
      if (done >= count) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`webhooks bench: ${done} of ${count} replies handled after ${timeoutMs} ms`)), timeoutMs)
        waiter = { count, resolve: () => { clearTimeout(timer); waiter = undefined; resolve() } }
      })
    }
  }
}

export async function run (measureOptions: MeasureOptions): Promise<SuiteResult> {
  const sim = await createChatwootSimulator({ database: serverUrl(), messagesPerMinute: Number.MAX_SAFE_INTEGER })
  const account = await sim.createAccount()
  const database = await createTestDatabase()
  const keyPrefix = `benchwebhooks${Date.now()}:`
  const viaOutbox = counter()
  const inProcess = counter()
  const outboxed = await webhookApp(sim, account, keyPrefix, database.url, () => viaOutbox.hit())
  const plain = await webhookApp(sim, account, `${keyPrefix}plain:`, undefined, () => inProcess.hit())
  const agent = new Agent({ connections: 32 })
  const outboxDb = new pg.Pool({ connectionString: database.url, max: 1 })
  try {
    // Conversations made as the gateway makes them, then agent messages in them straight in Chatwoot's table.
    const displayIds: number[] = []
    for (let i = 0; i < CONVERSATIONS; i++) {
      displayIds.push((await outboxed.app.chatwoot.deliver(INSTANCE, { contact: { identifier: `55119${String(i).padStart(6, '0')}@s.whatsapp.net` }, message: { content: 'hi' } })).conversationId)
    }
    const seeded = await sim.query<{ id: number, display_id: number }>(
      `INSERT INTO messages (content, account_id, inbox_id, conversation_id, message_type)
         SELECT 'Thanks, an agent here: your order ships today', $1, $2, c.id, 1
           FROM generate_series(1, $3) AS n JOIN conversations c ON c.account_id = $1 AND c.display_id = ($4::int[])[1 + n % $5]
       RETURNING id, (SELECT display_id FROM conversations WHERE id = conversation_id) AS display_id`,
      [account.accountId, account.inboxId, SEEDED, displayIds, CONVERSATIONS])
    const replies: Reply[] = seeded.map((row) => ({ id: row.id, displayId: row.display_id }))
    let nextReply = 0
    const reply = () => {
      const next = replies[nextReply++]
      if (next === undefined) throw new Error(`webhooks bench: more than ${SEEDED} replies asked for`)
      return next
    }

    const payload = ({ id, displayId }: Reply, type = 'outgoing') => JSON.stringify({
      event: 'message_created',
      id,
      content: 'Thanks, an agent here: your order ships today',
      message_type: type,
      private: false,
      source_id: type === 'incoming' ? `wamid.${id}` : null,
      content_type: 'text',
      account: { id: account.accountId },
      inbox: { id: account.inboxId },
      conversation: { id: displayId, inbox_id: account.inboxId },
      sender: { id: 1, name: 'Agent', type: 'user' }
    })
    const post = async (url: string, body: string, signed: boolean) => {
      const timestamp = Math.floor(Date.now() / 1000)
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (signed) {
        headers['x-chatwoot-delivery'] = randomUUID()
        headers['x-chatwoot-timestamp'] = String(timestamp)
        headers['x-chatwoot-signature'] = signWebhook(SECRET, timestamp, body)
      }
      const answer = await request(url, { method: 'POST', headers, body, dispatcher: agent })
      await answer.body.dump()
      if (answer.statusCode !== 200) throw new Error(`webhooks bench: ${url} answered ${answer.statusCode}`)
    }
    const hook = (base: string) => `${base}/chatwoot/webhooks/${INSTANCE}`
    // An echo of the gateway's own post (an incoming message, ids never seen): the checks and the dedupe, nothing stored.
    let echoId = 10_000_000
    const sent = { outbox: 0, inProcess: 0 }

    // 1. Acknowledge: the time to Chatwoot's 200, the same body each way (signing included on the sender's side).
    const acknowledge = await measure([
      { name: 'bare Fastify route, JSON body (baseline)', run: () => post(`${outboxed.url}/bare`, payload({ id: 1, displayId: 1 }), false) },
      { name: 'signed webhook, an echo (checked, ignored)', run: () => post(hook(outboxed.url), payload({ id: echoId++, displayId: displayIds[0]! }, 'incoming'), true) },
      { name: 'signed agent reply, stored in the outbox', run: () => { sent.outbox++; return post(hook(outboxed.url), payload(reply()), true) } },
      { name: 'signed agent reply, in-process', run: () => { sent.inProcess++; return post(hook(plain.url), payload(reply()), true) } }
    ], measureOptions)
    // The replies acknowledged above finish before the throughput is timed.
    await Promise.all([viaOutbox.reach(sent.outbox), inProcess.reach(sent.inProcess)])

    // 2. Throughput: BATCH replies over CONVERSATIONS conversations, from the first post to the last handler call.
    const batch = async (base: string, handled: ReturnType<typeof counter>) => {
      const target = handled.done + BATCH
      const started = performance.now()
      let left = BATCH
      await Promise.all(Array.from({ length: POST_CONCURRENCY }, async () => {
        while (left-- > 0) await post(hook(base), payload(reply()), true)
      }))
      await handled.reach(target)
      return performance.now() - started
    }
    const inProcessMs: number[] = []
    const outboxMs: number[] = []
    for (let round = 0; round < BATCH_ROUNDS; round++) {
      if (round % 2 === 1) outboxMs.push(await batch(outboxed.url, viaOutbox))
      inProcessMs.push(await batch(plain.url, inProcess))
      if (round % 2 === 0) outboxMs.push(await batch(outboxed.url, viaOutbox))
    }
    const throughput = (ms: number) => BATCH / (ms / 1000)
    const replyFigures = [
      figureOf(`${BATCH} replies handled in-process (baseline)`, inProcessMs.map(throughput), inProcessMs.map(() => 1)),
      figureOf(`${BATCH} replies through the outbox`, outboxMs.map(throughput), outboxMs.map((ms, i) => inProcessMs[i]! / ms))
    ]
    const { rows: [kinds] } = await outboxDb.query<{ replies: number }>(
      'SELECT count(*)::int AS replies FROM chatwoot_outbox.entries WHERE kind = \'agent-reply\'')
    return {
      figures: [...acknowledge, ...replyFigures],
      facts: {
        'agent-reply entries in the outbox table': kinds?.replies ?? 0,
        'replies handled (outbox; in-process)': `${viaOutbox.done}; ${inProcess.done}`
      }
    }
  } finally {
    await outboxed.app.redis.eval('for _, key in ipairs(redis.call(\'KEYS\', ARGV[1])) do redis.call(\'DEL\', key) end return 0', 0, `${keyPrefix}*`)
    await Promise.all([outboxed.app.close(), plain.app.close()])
    await agent.close()
    await outboxDb.end()
    await database.drop()
    await sim.close()
  }
}
