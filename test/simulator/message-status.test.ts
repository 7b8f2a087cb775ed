import { test } from 'tap'
import { contactWithConversation, NOT_FOUND, simulatedAccount } from '../helpers/simulator.js'

test('PATCH a message status: 204, read cannot go back to delivered, external_error only with failed', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'receipts')
  const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'to the channel' } })
  const path = `/conversations/${displayId}/messages/${posted.body.id}`
  const stored = async () => (await sim.query('SELECT status, content_attributes FROM messages WHERE id = $1', [posted.body.id]))[0]

  const delivered = await call('PATCH', path, { body: { status: 'delivered' } })
  t.equal(delivered.status, 204)
  t.equal(delivered.text, '')
  t.same(await stored(), { status: 1, content_attributes: {} })

  t.equal((await call('PATCH', path, { body: { status: 'read' } })).status, 204)
  t.equal((await call('PATCH', path, { body: { status: 'delivered' } })).status, 204, 'refused without an error')
  t.same(await stored(), { status: 2, content_attributes: {} }, 'read stays read')
  t.equal((await call('PATCH', path, { body: { status: 'bogus' } })).status, 204, 'an unknown status is ignored')
  t.equal((await call('PATCH', path, {})).status, 204)
  t.same(await stored(), { status: 2, content_attributes: {} })

  t.equal((await call('PATCH', path, { body: { status: 'failed', external_error: '131047: Re-engagement message' } })).status, 204)
  t.same(await stored(), { status: 3, content_attributes: { external_error: '131047: Re-engagement message' } })
  const listed = await call('GET', `/conversations/${displayId}/messages`)
  t.match(listed.body.payload[0], { id: posted.body.id, status: 'failed' })

  t.equal((await call('PATCH', path, { body: { status: 'sent', external_error: 'ignored' } })).status, 204)
  t.same(await stored(), { status: 0, content_attributes: { external_error: null } }, 'any other status clears the error')
})

test('PATCH a message status: 403 outside API inboxes, 404 for an unknown message, 401 for a bot token', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const widget = await sim.createInbox(account.accountId, { channelType: 'Channel::WebWidget' })
  const web = await contactWithConversation(call, widget, 'web')
  const api = await contactWithConversation(call, account.inboxId, 'api')
  const webMessage = await call('POST', `/conversations/${web.displayId}/messages`, { body: { content: 'x' } })
  const apiMessage = await call('POST', `/conversations/${api.displayId}/messages`, { body: { content: 'y' } })

  for (const messageId of [webMessage.body.id, 999999]) {
    const forbidden = await call('PATCH', `/conversations/${web.displayId}/messages/${messageId}`, { body: { status: 'read' } })
    t.equal(forbidden.status, 403, 'the inbox is checked before the message is looked up')
    t.same(forbidden.body, { error: 'Message status update is only allowed for API inboxes' })
  }
  const elsewhere = await call('PATCH', `/conversations/${api.displayId}/messages/${webMessage.body.id}`, { body: { status: 'read' } })
  t.equal(elsewhere.status, 404)
  t.same(elsewhere.body, NOT_FOUND)
  const bot = await call('PATCH', `/conversations/${api.displayId}/messages/${apiMessage.body.id}`,
    { body: { status: 'read' }, token: account.botToken })
  t.equal(bot.status, 401)
  t.same(bot.body, { error: 'Access to this endpoint is not authorized for bots' })
  t.same(await sim.query('SELECT status FROM messages ORDER BY id'), [{ status: 0 }, { status: 0 }], 'nothing changed')
})
