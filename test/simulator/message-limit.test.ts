import { test } from 'tap'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'

test('the per-minute limit counts every message of the conversation, outgoing, activity and template too', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { messagesPerMinute: 4 })
  const { displayId } = await contactWithConversation(call, account.inboxId, 'mixed')
  for (const messageType of ['outgoing', 'activity', 'template', 'incoming']) {
    const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: messageType, message_type: messageType } })
    t.equal(posted.status, 200, `${messageType} is accepted`)
  }
  for (const messageType of ['outgoing', 'activity']) {
    const refused = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'fifth', message_type: messageType } })
    t.equal(refused.status, 422, `a fifth ${messageType} is refused`)
    t.same(refused.body, { error: 'Validation failed: Too many messages' })
  }
  t.equal((await sim.query('SELECT count(*)::int AS count FROM messages'))[0].count, 4, 'the refused ones were not stored')

  // Once the window has moved on, the same message can be posted again.
  await sim.query("UPDATE messages SET created_at = created_at - interval '61 seconds'")
  const later = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'fifth', message_type: 'outgoing' } })
  t.equal(later.status, 200)
})
