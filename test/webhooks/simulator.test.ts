// The round trip over real HTTP: the simulator sends webhooks as Chatwoot does (after the answer, one
// attempt, signed, message_type as a string, the gateway's own posts echoed) to a listening gateway,
// whose replies' status lands back in the simulator.
import { test } from 'tap'
import type { InstanceConfig } from '../../lib/index.js'
import { instanceOf } from '../helpers/gateway.js'
import { chatwootApi, contactWithConversation, startSimulator } from '../helpers/simulator.js'
import { type Call, SECRET, STATUS, storedStatus, webhookGateway } from './fixture.js'

async function roundTrip (t: { teardown: (fn: () => unknown) => void }, secret = SECRET) {
  const instances: Record<string, InstanceConfig> = {}
  const { app, calls } = await webhookGateway(t, instances)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const sim = await startSimulator(t, { webhooks: { url: `${url}/chatwoot/webhooks/a`, secret } })
  const account = await sim.createAccount()
  const config = instanceOf(sim, account)
  instances.a = { ...config, chatwoot: { ...config.chatwoot, webhookSecret: SECRET } }
  const call = chatwootApi(sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'sim@s.whatsapp.net')
  const post = async (body: Record<string, unknown>) => {
    const answer = await call('POST', `/conversations/${displayId}/messages`, { body })
    if (answer.status !== 200) throw new Error(`message create answered ${answer.status}: ${answer.text}`)
    // The webhook leaves after the answer: wait for its own answer, then for the handler it started.
    await new Promise((resolve) => setImmediate(resolve))
    await sim.webhooks!.idle()
    return answer.body.id as number
  }
  return { app, sim, call, calls, displayId, post, attempts: sim.webhooks!.attempts }
}

test('an agent reply reaches the handler once and is marked sent; the gateway\'s own incoming post is an echo', async (t) => {
  const { app, sim, calls, displayId, post, attempts } = await roundTrip(t)
  await post({ content: 'from the customer', message_type: 'incoming' })
  const replyId = await post({ content: 'Hello, how can I help?', message_type: 'outgoing' })
  await sim.query('UPDATE messages SET status = $2 WHERE id = $1', [replyId, STATUS.failed])
  await post({ content: 'internal', message_type: 'outgoing', private: true })
  await app.close()
  t.same(calls.map((c: Call) => [c.messageId, c.conversationId]), [[replyId, displayId]])
  t.same(attempts.map((a) => [a.event, a.status]), [['message_created', 200], ['message_created', 200], ['message_created', 200]])
  t.equal((await storedStatus(sim, replyId))?.status, STATUS.sent, 'the status came back over PATCH')
})

test('faults: a doubled delivery runs once, a dropped one never arrives', async (t) => {
  const { app, sim, calls, post, attempts } = await roundTrip(t)
  sim.webhooks!.fault('double')
  const doubled = await post({ content: 'twice', message_type: 'outgoing' })
  sim.webhooks!.fault('drop')
  const dropped = await post({ content: 'lost', message_type: 'outgoing' })
  await app.close()
  t.same(calls.map((c: Call) => c.messageId), [doubled])
  t.same(attempts.map((a) => [a.status, a.dropped ?? false]), [[200, false], [200, false], [null, true]])
  t.not(attempts[0]!.delivery, attempts[1]!.delivery, 'a duplicate has its own delivery id')
  t.notOk(calls.some((c: Call) => c.messageId === dropped), 'nothing resends it (the reconciliation sweep is not built yet)')
})

test('a Chatwoot signing with another secret is answered 401 and recorded once, no retry', async (t) => {
  const { app, calls, post, attempts } = await roundTrip(t, 'the-secret-chatwoot-really-uses')
  await post({ content: 'refused', message_type: 'outgoing' })
  await app.close()
  t.same(calls, [])
  t.same(attempts.map((a) => a.status), [401])
})

test('a status toggle sends conversation_status_changed, acknowledged (not followed yet)', async (t) => {
  const { app, sim, call, displayId, attempts } = await roundTrip(t)
  const toggled = await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'resolved' } })
  t.equal(toggled.status, 200)
  await new Promise((resolve) => setImmediate(resolve))
  await sim.webhooks!.idle()
  await app.close()
  t.same(attempts.map((a) => [a.event, a.status]), [['conversation_status_changed', 200]])
})
