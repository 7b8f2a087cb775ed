// examples/gateway's webhooks: an instance's webhookSecret, the stand-in WhatsApp sender (the `replies`
// table, a log line), its outage switch, and GET /replies. Webhooks are posted as Chatwoot signs them.
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { until } from '../outbox/fixture.js'
import { chatwootApi } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'
import { agentMessage, postWebhook, SECRET, STATUS, storedStatus } from '../webhooks/fixture.js'
import { addInstance, answerOf, message, postMessage, setup } from './fixture.js'

usesServers('postgres', 'redis')

// Short waits: the failures here are injected, and the test should not sit in a backoff.
const OUTBOX = { pollMs: 50, backoffMinMs: 50, backoffMaxMs: 200, maintenanceMs: 500 }

/** A conversation made by the gateway's incoming post, and an agent's reply created in it through Chatwoot's API. */
async function agentReplyIn (app: FastifyInstance, sim: ChatwootSimulator, account: CreatedAccount, content: string) {
  const incoming = answerOf(await postMessage(app, message('5511999990001@s.whatsapp.net', 'Hi, my order is late')))
  if (incoming.status !== 200) throw new Error(`the incoming post answered ${incoming.status}: ${incoming.text}`)
  const conversationId = incoming.body.conversationId as number
  const created = await chatwootApi(sim, account)('POST', `/conversations/${conversationId}/messages`, { body: { content, message_type: 'outgoing' } })
  if (created.status !== 200) throw new Error(`the agent reply answered ${created.status}: ${created.text}`)
  return { conversationId, messageId: created.body.id as number, payload: agentMessage(created.body.id, conversationId, { content }) }
}

async function replies (app: FastifyInstance, query = '') {
  return answerOf(await app.inject({ method: 'GET', url: `/replies${query}` }))
}

/** Waits for the stand-in to have sent the message (a fresh outgoing message is already `sent` in Chatwoot: no use waiting on that). */
async function sentBySender (app: FastifyInstance, messageId: number) {
  await until(async () => (await replies(app)).body.replies.some((row: { messageId: number, sends: number }) => row.messageId === messageId && row.sends > 0),
    20_000, `reply ${messageId} sent by the stand-in`)
}

function logLines () {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line))
      done()
    }
  })
  return { lines, logger: { level: 'info', stream } }
}

test('an agent reply is sent once through the stand-in (a row, a log line), a second delivery of it sends nothing, Chatwoot shows it sent', async (t) => {
  const { lines, logger } = logLines()
  const { sim, account, app } = await setup(t, { outbox: OUTBOX, logger })
  const added = answerOf(await addInstance(app, sim, account, { webhookSecret: SECRET }))
  t.match(added.body, { name: 'acme', hasWebhookSecret: true })
  t.notMatch(added.text, SECRET, 'the secret is not echoed')
  const { conversationId, messageId, payload } = await agentReplyIn(app, sim, account, 'Sorry, it ships today')

  const first = await postWebhook(app, 'acme', payload)
  const second = await postWebhook(app, 'acme', payload)
  t.equal(first.status, 200)
  t.equal(second.status, 200, 'the duplicate is acknowledged too (Chatwoot does not retry)')
  await sentBySender(app, messageId)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(await storedStatus(sim, messageId), { status: STATUS.sent, external_error: null }, 'Chatwoot shows it sent')

  const listed = await replies(app, '?instance=acme')
  t.equal(listed.status, 200, listed.text)
  t.match(listed.body.replies, [{
    idempotencyKey: `chatwoot:acme:${account.accountId}:${messageId}`,
    instance: 'acme',
    conversationId,
    messageId,
    content: 'Sorry, it ships today',
    sends: 1,
    failures: 0,
    lastError: null,
    sentAt: String
  }])
  t.equal(listed.body.replies.length, 1)
  t.same(listed.body.outage, { failuresLeft: 0, downForMs: 0 })
  const sent = lines.filter((line) => line.msg === 'reply sent to WhatsApp (stand-in)')
  t.match(sent, [{ instance: 'acme', conversationId, messageId, level: 30 }], 'one log line, with ids')
  t.notOk(lines.some((line) => JSON.stringify(line).includes('Sorry, it ships today')), 'the reply text is not logged')
  t.notOk(lines.some((line) => JSON.stringify(line).includes(SECRET)), 'nor the secret')
})

test('the outage switch: refused sends are recorded with the reason; a reply the channel keeps refusing is marked failed in Chatwoot', async (t) => {
  const { sim, account, app } = await setup(t, { outbox: OUTBOX })
  await addInstance(app, sim, account, { webhookSecret: SECRET })
  const switched = answerOf(await app.inject({ method: 'POST', url: '/replies/outage', payload: { forMs: 600_000 } }))
  t.equal(switched.status, 200, switched.text)
  t.match(switched.body, { failuresLeft: 0, downForMs: Number })
  t.ok(switched.body.downForMs > 590_000)

  const { messageId, payload } = await agentReplyIn(app, sim, account, 'This one will not arrive')
  t.equal((await postWebhook(app, 'acme', payload)).status, 200, 'acknowledged at once all the same')
  await until(async () => (await storedStatus(sim, messageId))?.status === STATUS.failed, 20_000, 'the reply marked failed')
  const stored = await storedStatus(sim, messageId)
  t.match(stored?.external_error, /GATEWAY_REPLY_SENDER_DOWN: the WhatsApp stand-in refused the reply \(outage: down for \d+ ms more\)/,
    'the agent sees why')
  const [row] = (await replies(app)).body.replies
  t.match(row, { messageId, sends: 0, lastError: /outage/, sentAt: null })
  t.ok(row.failures >= 1, `${row.failures} refused attempt(s) recorded`)

  const ended = answerOf(await app.inject({ method: 'POST', url: '/replies/outage', payload: { forMs: 0, failures: 0 } }))
  t.same(ended.body, { failuresLeft: 0, downForMs: 0 }, 'zeros end the outage')
})

test('an outage of a few refusals: the reply is refused, then sent once after the retries', async (t) => {
  const { sim, account, app } = await setup(t, { outbox: OUTBOX })
  await addInstance(app, sim, account, { webhookSecret: SECRET })
  t.same(answerOf(await app.inject({ method: 'POST', url: '/replies/outage', payload: { failures: 2 } })).body, { failuresLeft: 2, downForMs: 0 })
  const { messageId, payload } = await agentReplyIn(app, sim, account, 'Third time lucky')
  t.equal((await postWebhook(app, 'acme', payload)).status, 200)
  await sentBySender(app, messageId)
  t.match((await replies(app)).body.replies, [{ messageId, sends: 1, failures: 2, lastError: /outage: 0 more refusal/ }])
})

test('a wrong secret, an instance without one, and bad input to the reply routes are refused with their code', async (t) => {
  const { sim, account, app } = await setup(t, { outbox: OUTBOX })
  await addInstance(app, sim, account, { webhookSecret: SECRET })
  await addInstance(app, sim, account, { name: 'plain' })
  const payload = agentMessage(1, 1)

  const wrong = await postWebhook(app, 'acme', payload, { secret: 'not-the-secret-chatwoot-uses' })
  t.equal(wrong.status, 401)
  t.match(wrong.body, { code: 'FST_CHATWOOT_WEBHOOK_SIGNATURE', message: /bad signature: the body was not signed with this instance's chatwoot.webhookSecret/ })
  const none = await postWebhook(app, 'plain', payload)
  t.equal(none.status, 401)
  t.match(none.body.message, /the instance has no chatwoot.webhookSecret/)
  const unknown = await postWebhook(app, 'nobody', payload)
  t.match(unknown, { status: 401, body: { message: /unknown instance/ } })
  t.same((await replies(app)).body.replies, [], 'nothing reached the sender')

  const cases: Array<[string, () => Promise<ReturnType<typeof answerOf>>, string]> = [
    ['limit 0', () => replies(app, '?limit=0'), 'querystring.limit'],
    ['limit 1001', () => replies(app, '?limit=1001'), 'querystring.limit'],
    ['an empty outage', async () => answerOf(await app.inject({ method: 'POST', url: '/replies/outage', payload: {} })), 'body'],
    ['negative failures', async () => answerOf(await app.inject({ method: 'POST', url: '/replies/outage', payload: { failures: -1 } })), 'body.failures'],
    ['an empty webhook secret', async () => answerOf(await app.inject({
      method: 'POST', url: '/instances', payload: { name: 'x', chatwootUrl: sim.url, accountId: 1, inboxId: 1, token: 't', webhookSecret: '' }
    })), 'body.webhookSecret']
  ]
  for (const [name, call, field] of cases) {
    const answer = await call()
    t.equal(answer.status, 400, `${name}: ${answer.text}`)
    t.match(answer.body, { code: 'GATEWAY_VALIDATION', field }, name)
  }
  t.equal((await replies(app, '?limit=1000')).status, 200)
})

test('webhooks: false leaves the webhook and reply routes out', async (t) => {
  const { app } = await setup(t, { outbox: false, webhooks: false })
  t.equal((await app.inject({ method: 'GET', url: '/replies' })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/chatwoot/webhooks/acme', payload: {} })).statusCode, 404)
})
