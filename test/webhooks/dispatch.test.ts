// What chatwootWebhooks does with a delivery it took: once per message (also across two processes
// sharing Redis), never for the gateway's own posts, one at a time per conversation, and the outcome
// back in Chatwoot as the message's status.
import { test } from 'tap'
import { startSimulator } from '../helpers/simulator.js'
import { agentMessage, agentReply, postWebhook, STATUS, storedStatus, webhookGateway } from './fixture.js'

test('one message delivered twice under two delivery ids, to two processes, runs once', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { config, displayId, messageId } = await agentReply(sim, account, 'twice@s.whatsapp.net')
  const one = await webhookGateway(t, { a: config })
  const two = await webhookGateway(t, { a: config }, { keyPrefix: one.keyPrefix })
  const answers = await Promise.all([
    postWebhook(one.app, 'a', agentMessage(messageId, displayId)),
    postWebhook(two.app, 'a', agentMessage(messageId, displayId)),
    postWebhook(one.app, 'a', agentMessage(messageId, displayId))
  ])
  t.same(answers.map((answer) => answer.status), [200, 200, 200], 'all acknowledged: Chatwoot marks nothing failed')
  t.same(answers.map((answer) => answer.body.action).sort(), ['agent-message', 'ignored', 'ignored'])
  t.same(answers.filter((answer) => answer.body.duplicate === 'message').length, 2)
  await Promise.all([one.app.close(), two.app.close()])
  t.same([...one.calls, ...two.calls], [{ instance: 'a', messageId, conversationId: displayId, idempotencyKey: `chatwoot:a:${account.accountId}:${messageId}` }])
})

test('echoes, incoming messages, private notes and other events do not reach the host', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { config, displayId } = await agentReply(sim, account, 'echo@s.whatsapp.net')
  const { app, calls } = await webhookGateway(t, { a: config })
  const ignored: Array<[unknown, RegExp]> = [
    [agentMessage(101, displayId, { message_type: 'incoming', source_id: 'wamid.in' }), /message_type incoming/],
    [agentMessage(102, displayId, { source_id: 'wamid.mirrored' }), /echo/],
    [agentMessage(103, displayId, { private: true }), /private note/],
    [agentMessage(104, displayId, { message_type: 'activity' }), /message_type activity/],
    [{ event: 'contact_updated', id: 5 }, /event contact_updated/]
  ]
  for (const [payload, reason] of ignored) {
    const answer = await postWebhook(app, 'a', payload)
    t.equal(answer.status, 200)
    t.match(answer.body, { action: 'ignored', reason })
  }
  const notJson = await app.inject({ method: 'POST', url: '/chatwoot/webhooks/a', payload: 'x', headers: { 'content-type': 'text/plain' } })
  t.equal(notJson.statusCode, 401, 'an unsigned body of any type is refused before it is read')
  await app.close()
  t.same(calls, [])
})

test('replies run one at a time per conversation, in arrival order; other conversations do not wait', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { config } = await agentReply(sim, account, 'order@s.whatsapp.net')
  const events: string[] = []
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const { app } = await webhookGateway(t, { a: config }, {
    onAgentMessage: async (_instance, message) => {
      events.push(`start ${message.id}`)
      if (message.id === 1) await gate
      events.push(`end ${message.id}`)
    }
  })
  // Conversations 901 and 902 do not exist: the status report fails and is only logged.
  for (const [id, conversation] of [[1, 901], [2, 901], [3, 902], [4, 901]]) {
    t.same((await postWebhook(app, 'a', agentMessage(id!, conversation!))).body, { action: 'agent-message' }, `answered while ${id} waits`)
  }
  const waitFor = async (event: string) => { while (!events.includes(event)) await new Promise((resolve) => setTimeout(resolve, 5)) }
  await waitFor('end 3')
  t.same(events, ['start 1', 'start 3', 'end 3'], 'the other conversation ran; 2 and 4 wait for 1')
  release()
  await app.close()
  t.same(events.slice(3), ['end 1', 'start 2', 'end 2', 'start 4', 'end 4'])
})

test('the outcome goes back to Chatwoot: sent, failed with the reason, later receipts by reportStatus', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const ok = await agentReply(sim, account, 'ok@s.whatsapp.net')
  const bad = await agentReply(sim, account, 'bad@s.whatsapp.net')
  // As if Chatwoot's own delivery attempt had failed: a reply sent later must say sent.
  await sim.query('UPDATE messages SET status = $2 WHERE id = $1', [ok.messageId, STATUS.failed])
  const { app } = await webhookGateway(t, { a: ok.config }, {
    onAgentMessage: async (_instance, message) => {
      if (message.id === bad.messageId) throw Object.assign(new Error('recipient is not on WhatsApp'), { code: 'WA_131026' })
    }
  })
  await postWebhook(app, 'a', agentMessage(ok.messageId, ok.displayId))
  await postWebhook(app, 'a', agentMessage(bad.messageId, bad.displayId))
  const settled = async (id: number, status: number) => {
    for (let i = 0; i < 200 && (await storedStatus(sim, id))?.status !== status; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    return storedStatus(sim, id)
  }
  t.same(await settled(ok.messageId, STATUS.sent), { status: STATUS.sent, external_error: null })
  t.same(await settled(bad.messageId, STATUS.failed), { status: STATUS.failed, external_error: 'WA_131026: recipient is not on WhatsApp' })

  const target = { conversationId: ok.displayId, messageId: ok.messageId }
  t.equal(await app.chatwoot.reportStatus('a', target, 'delivered'), 'updated')
  t.equal((await storedStatus(sim, ok.messageId))?.status, STATUS.delivered)
  t.equal(await app.chatwoot.reportStatus('a', target, 'read'), 'updated')
  t.equal((await storedStatus(sim, ok.messageId))?.status, STATUS.read)
})

test('where Chatwoot refuses status updates (not an API inbox), a failure becomes a private note', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const inboxId = await sim.createInbox(account.accountId, { channelType: 'Channel::WebWidget' })
  const reply = await agentReply(sim, { ...account, inboxId }, 'visitor-1')
  const { app } = await webhookGateway(t, { a: reply.config }, {
    onAgentMessage: async () => { throw new Error('the visitor closed the chat') }
  })
  const target = { conversationId: reply.displayId, messageId: reply.messageId }
  t.equal(await app.chatwoot.reportStatus('a', target, 'delivered'), 'refused', 'a receipt is dropped, not noted')
  await postWebhook(app, 'a', agentMessage(reply.messageId, reply.displayId))
  await app.close()
  const notes = await sim.query<{ content: string }>('SELECT content FROM messages WHERE private AND conversation_id = (SELECT conversation_id FROM messages WHERE id = $1)', [reply.messageId])
  t.same(notes.map((note) => note.content), [`Reply #${reply.messageId} was not delivered to the customer: the visitor closed the chat`])
})
