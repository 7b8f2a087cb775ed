import { test } from 'tap'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'

test('a message posted to a fresh conversation is stored in the messages table with the internal conversation id', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'smoke@s.whatsapp.net')
  const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'hello', message_type: 'incoming' } })
  t.equal(posted.status, 200)
  t.equal(posted.body.conversation_id, displayId)
  t.equal(posted.body.message_type, 0)
  const rows = await sim.query('SELECT m.content, c.display_id FROM messages m JOIN conversations c ON c.id = m.conversation_id')
  t.same(rows, [{ content: 'hello', display_id: displayId }])
})
