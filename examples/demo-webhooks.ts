// The demo's webhook steps, the other direction: an agent replies in Chatwoot, Chatwoot sends the
// webhook (once, 5 s, no retry), and the gateway's stand-in WhatsApp sender (gateway/reply-sender.ts)
// sends it to the customer. A Chatwoot of its own, whose webhooks point at the listening gateway.
import { signWebhook } from 'fastify-chatwoot'
import { createChatwootSimulator, type ChatwootSimulator, type CreatedAccount } from 'fastify-chatwoot/testing'
import { request } from 'undici'
import type { Outcome, Post } from './demo-outbox.js'

export const WEBHOOK_STEPS = 4

// In Chatwoot: the API inbox's webhook secret (4.10+ signs with it); given to the gateway with the instance.
const SECRET = 'whsec-demo-0123456789abcdef'
// Chatwoot's message status enum.
const FAILED = 3

interface ReplyRow { messageId: number, sends: number, failures: number, lastError: string | null }

async function until<T> (read: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (value !== undefined || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** An agent's reply, created as Chatwoot's UI does (REST, the admin token); Chatwoot then sends message_created. */
async function agentReplies (chatwoot: ChatwootSimulator, account: CreatedAccount, conversationId: number, content: string): Promise<number> {
  const answer = await request(`${chatwoot.url}/api/v1/accounts/${account.accountId}/conversations/${conversationId}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', api_access_token: account.token },
    body: JSON.stringify({ content, message_type: 'outgoing' })
  })
  const body = await answer.body.json() as { id: number }
  if (answer.statusCode !== 200) throw new Error(`the agent's reply answered ${answer.statusCode}`)
  // The webhook leaves after the answer, as Chatwoot's job after the commit: wait for its answer.
  await new Promise((resolve) => setImmediate(resolve))
  await chatwoot.webhooks!.idle()
  return body.id
}

export interface WebhookStepsOptions {
  /** The listening gateway's URL, and a POST to it. */
  gateway: string
  post: Post
  /** DATABASE_URL: the simulator's database goes there, else it is embedded. */
  database: string | undefined
  /** The number of the first of the four steps. */
  first: number
  record: (outcome: Outcome) => void
}

export async function webhookSteps ({ gateway, post, database, first, record }: WebhookStepsOptions): Promise<void> {
  const chatwoot = await createChatwootSimulator({
    webhooks: { url: `${gateway}/chatwoot/webhooks/replies`, secret: SECRET }, ...(database === undefined ? {} : { database })
  })
  try {
    const account = await chatwoot.createAccount()
    const added = await post('/instances', {
      name: 'replies', chatwootUrl: chatwoot.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token, webhookSecret: SECRET
    })
    if (added.status !== 201) throw new Error(`adding the instance "replies" failed: ${added.text}`)
    const attempts = chatwoot.webhooks!.attempts
    const replyOf = async (messageId: number) => {
      const answer = await request(`${gateway}/replies?instance=replies`)
      const { replies } = await answer.body.json() as { replies: ReplyRow[] }
      return replies.find((row) => row.messageId === messageId)
    }
    const sentOnce = (messageId: number) => until(async () => {
      const row = await replyOf(messageId)
      return row !== undefined && row.sends > 0 ? row : undefined
    }, 15_000)
    const statusOf = async (messageId: number) => (await chatwoot.query(
      'SELECT status, content_attributes::jsonb ->> \'external_error\' AS reason FROM messages WHERE id = $1', [messageId]))[0] as { status: number, reason: string | null }

    console.log(`${first}. Grace writes in; an agent replies in Chatwoot, whose webhook brings the reply to the gateway's WhatsApp stand-in`)
    const grace = { identifier: '5511999990007@s.whatsapp.net', name: 'Grace' }
    const incoming = await post('/instances/replies/messages', { contact: grace, message: { content: 'Can I change my delivery address?' } })
    await new Promise((resolve) => setImmediate(resolve))
    await chatwoot.webhooks!.idle()
    const conversationId = incoming.json.conversationId as number
    const reply = await agentReplies(chatwoot, account, conversationId, 'Sure, send me the new one')
    const replyRow = await sentOnce(reply)
    const status = await statusOf(reply)
    console.log(`   webhooks answered ${attempts.map((attempt) => attempt.status).join(', ')} (the gateway's own post echoed back, then the reply); the stand-in sent #${reply} ${replyRow?.sends ?? 0} time(s)`)
    record({
      step: 'an agent replies',
      expected: 'echo ignored, the reply sent once, Chatwoot shows sent',
      observed: `${attempts.length} webhook(s) answered ${attempts.map((attempt) => attempt.status).join('/')}, sent ${replyRow?.sends ?? 0} time(s), status ${status.status === 0 ? 'sent' : status.status}`,
      ok: incoming.status === 200 && attempts.length === 2 && attempts.every((attempt) => attempt.status === 200) && replyRow?.sends === 1 &&
        status.status === 0 && (await replyOf(incoming.json.messageId)) === undefined
    })

    console.log(`${first + 1}. Chatwoot sends the next reply's webhook twice (two delivery ids, as its duplicate message_created)`)
    chatwoot.webhooks!.fault('double')
    const before = attempts.length
    const doubled = await agentReplies(chatwoot, account, conversationId, 'It will arrive on Thursday')
    const doubledRow = await sentOnce(doubled)
    const pair = attempts.slice(before)
    console.log(`   ${pair.length} deliveries (${pair.map((attempt) => attempt.delivery.slice(0, 8)).join(', ')}) answered ${pair.map((attempt) => attempt.status).join(', ')}; sent ${doubledRow?.sends ?? 0} time(s)`)
    record({
      step: 'the webhook arrives twice',
      expected: 'both acknowledged, the reply sent once',
      observed: `${pair.length} deliveries answered ${pair.map((attempt) => attempt.status).join('/')}, sent ${doubledRow?.sends ?? 0} time(s)`,
      ok: pair.length === 2 && pair.every((attempt) => attempt.status === 200) && pair[0]!.delivery !== pair[1]!.delivery && doubledRow?.sends === 1
    })

    console.log(`${first + 2}. The WhatsApp stand-in refuses twice, then works; later it refuses everything`)
    await post('/replies/outage', { failures: 2 })
    const retried = await agentReplies(chatwoot, account, conversationId, 'Anything else?')
    const retriedRow = await sentOnce(retried)
    await post('/replies/outage', { forMs: 600_000 })
    const lost = await agentReplies(chatwoot, account, conversationId, 'Have a nice day')
    const failed = await until(async () => {
      const now = await statusOf(lost)
      return now.status === FAILED ? now : undefined
    }, 20_000)
    await post('/replies/outage', { failures: 0, forMs: 0 })
    const lostRow = await replyOf(lost)
    console.log(`   #${retried}: refused ${retriedRow?.failures ?? 0} time(s), then sent ${retriedRow?.sends ?? 0} time(s)`)
    console.log(`   #${lost}: refused ${lostRow?.failures ?? 0} time(s), never sent; Chatwoot shows the agent: failed, "${failed?.reason ?? 'no reason'}"`)
    record({
      step: 'the sender fails for a while',
      expected: 'retried then sent once; if it keeps failing, failed in Chatwoot with the reason',
      observed: `#${retried} refused ${retriedRow?.failures ?? 0}x then sent ${retriedRow?.sends ?? 0}x; #${lost} refused ${lostRow?.failures ?? 0}x, status ${failed === undefined ? 'not failed' : 'failed'}`,
      ok: retriedRow?.failures === 2 && retriedRow.sends === 1 && failed !== undefined && /GATEWAY_REPLY_SENDER_DOWN/.test(failed.reason ?? '') &&
        lostRow !== undefined && lostRow.sends === 0 && lostRow.failures > 1
    })

    console.log(`${first + 3}. A webhook signed with another secret than the instance's (Chatwoot issue #13809: the secret shown is not always the one used)`)
    const body = JSON.stringify({ event: 'message_created', id: 999_999, content: 'forged', message_type: 'outgoing', private: false, conversation: { id: conversationId } })
    const timestamp = Math.floor(Date.now() / 1000)
    const wrong = 'whsec-not-the-one-the-gateway-has'
    const refused = await request(`${gateway}/chatwoot/webhooks/replies`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-chatwoot-timestamp': String(timestamp), 'x-chatwoot-signature': signWebhook(wrong, timestamp, body) },
      body
    })
    const text = await refused.body.text()
    const answer = JSON.parse(text) as { code?: string, message?: string }
    console.log(`   ${refused.statusCode} ${answer.code}: ${answer.message}`)
    record({
      step: 'a wrong webhook secret',
      expected: '401 naming the check, nothing sent',
      observed: `${refused.statusCode} ${answer.code}, "${/bad signature/.test(answer.message ?? '') ? 'bad signature' : answer.message}", ${(await replyOf(999_999)) === undefined ? 'nothing sent' : 'SENT'}`,
      ok: refused.statusCode === 401 && answer.code === 'FST_CHATWOOT_WEBHOOK_SIGNATURE' && /bad signature/.test(answer.message ?? '') &&
        !text.includes(SECRET) && !text.includes(wrong) && (await replyOf(999_999)) === undefined
    })
  } finally {
    await chatwoot.close()
  }
}
