import { randomBytes } from 'node:crypto'
import { test } from 'tap'
// Node 20's global FormData comes from an older bundled undici that undici 7's request cannot send.
import { FormData } from 'undici'
import { contactWithConversation, NOT_FOUND, simulatedAccount } from '../helpers/simulator.js'

const BOT_REFUSED = { error: 'Access to this endpoint is not authorized for bots' }

test('DELETE of a message is a soft delete: the row and its source_id stay, content is replaced, files go', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { contactId, displayId } = await contactWithConversation(call, account.inboxId, 'soft-delete')
  const form = new FormData()
  form.append('content', 'misrouted')
  form.append('message_type', 'incoming')
  form.append('source_id', 'wamid.MISROUTED')
  form.append('content_attributes', JSON.stringify({ in_reply_to: 7 }))
  form.append('attachments[]', new Blob([randomBytes(64)], { type: 'image/png' }), 'photo.png')
  const posted = await call('POST', `/conversations/${displayId}/messages`, { form })
  t.equal(posted.status, 200)
  t.equal(posted.body.attachments.length, 1)

  const deleted = await call('DELETE', `/conversations/${displayId}/messages/${posted.body.id}`)
  t.equal(deleted.status, 200)
  t.same(deleted.body, {
    id: posted.body.id,
    content: 'This message was deleted',
    inbox_id: account.inboxId,
    conversation_id: displayId,
    message_type: 0,
    content_type: 'text',
    content_attributes: { deleted: true },
    created_at: posted.body.created_at,
    private: false,
    source_id: 'wamid.MISROUTED',
    sender: posted.body.sender
  }, "the destroy view's fields, without attachments or status")
  t.equal(deleted.body.sender.id, contactId)

  t.same(await sim.query('SELECT content, content_type, content_attributes, source_id FROM messages WHERE id = $1', [posted.body.id]),
    [{ content: 'This message was deleted', content_type: 0, content_attributes: { deleted: true }, source_id: 'wamid.MISROUTED' }],
    'the row stays, found by its source_id')
  t.same(await sim.query('SELECT id FROM attachments'), [], 'the attachments are destroyed')

  const listed = await call('GET', `/conversations/${displayId}/messages`)
  t.match(listed.body.payload, [{ id: posted.body.id, content: 'This message was deleted', content_attributes: { deleted: true } }])
  t.notOk('attachments' in listed.body.payload[0], 'the list shows no attachments for it')

  const again = await call('DELETE', `/conversations/${displayId}/messages/${posted.body.id}`)
  t.equal(again.status, 200, 'deleting it again answers the same')
  t.same(again.body, deleted.body)
})

test('DELETE of a message: 404 for a message of another conversation or none, 401 for a bot token', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const first = await contactWithConversation(call, account.inboxId, 'first')
  const second = await contactWithConversation(call, account.inboxId, 'second')
  const posted = await call('POST', `/conversations/${first.displayId}/messages`, { body: { content: 'keep me' } })
  t.equal(posted.status, 200)

  for (const path of [
    `/conversations/${second.displayId}/messages/${posted.body.id}`,
    `/conversations/${first.displayId}/messages/${posted.body.id + 1000}`,
    `/conversations/${first.displayId}/messages/not-a-number`,
    `/conversations/${second.displayId + 100}/messages/${posted.body.id}`
  ]) {
    const answer = await call('DELETE', path)
    t.equal(answer.status, 404, path)
    t.same(answer.body, NOT_FOUND)
  }
  const bot = await call('DELETE', `/conversations/${first.displayId}/messages/${posted.body.id}`, { token: account.botToken })
  t.equal(bot.status, 401)
  t.same(bot.body, BOT_REFUSED)
  t.same(await sim.query('SELECT content FROM messages'), [{ content: 'keep me' }], 'nothing was deleted')

  const outgoing = await call('DELETE', `/conversations/${first.displayId}/messages/${posted.body.id}`)
  t.equal(outgoing.status, 200)
  t.match(outgoing.body, { message_type: 1, content: 'This message was deleted', sender: { type: 'user' } })
})
