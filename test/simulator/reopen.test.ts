import { test } from 'tap'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'

// Issue 14, item 5: Message#reopen_conversation, and an active bot's pending conversations.

test('an incoming message reopens resolved and snoozed conversations whatever allow_messages_after_resolved says', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  await sim.query('UPDATE inboxes SET allow_messages_after_resolved = false')
  const { displayId } = await contactWithConversation(call, account.inboxId, 'reopen')
  const stored = async () => (await sim.query('SELECT status, snoozed_until FROM conversations WHERE display_id = $1', [displayId]))[0]
  const post = (type: string) => call('POST', `/conversations/${displayId}/messages`, { body: { content: type, message_type: type } })

  await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'resolved' } })
  t.equal((await post('incoming')).status, 200)
  t.same(await stored(), { status: 0, snoozed_until: null }, 'resolved -> open although the inbox disallows messages after resolved')

  await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'snoozed', snoozed_until: 1893456000 } })
  for (const type of ['outgoing', 'template', 'activity']) t.equal((await post(type)).status, 200)
  t.equal((await stored()).status, 3, 'only incoming messages reopen')
  await post('incoming')
  t.same(await stored(), { status: 0, snoozed_until: null }, 'snoozed -> open, snoozed_until cleared')

  await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'pending' } })
  await post('incoming')
  t.equal((await stored()).status, 2, 'a pending conversation stays pending')
})

test('a muted conversation (its contact blocked) is not reopened', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { contactId, displayId } = await contactWithConversation(call, account.inboxId, 'muted')
  await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'resolved' } })
  await sim.query('UPDATE contacts SET blocked = true WHERE id = $1', [contactId])
  t.equal((await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'hi', message_type: 'incoming' } })).status, 200)
  t.equal((await call('GET', `/conversations/${displayId}`)).body.status, 'resolved')
})

test('with an active bot, new conversations start pending and resolved ones reopen as pending; snoozed ones still open', async (t) => {
  const { sim, call, account } = await simulatedAccount(t)
  const botInbox = await sim.createInbox(account.accountId, { activeBot: true })
  const contact = await call('POST', '/contacts', { body: { name: 'botted', identifier: 'botted', inbox_id: botInbox } })
  const created = await call('POST', '/conversations', {
    body: { contact_id: contact.body.payload.contact.id, inbox_id: botInbox, source_id: contact.body.payload.contact_inbox.source_id, status: 'open' }
  })
  t.equal(created.status, 200)
  t.equal(created.body.status, 'pending', 'the bot takes it first, whatever status was asked')
  const displayId = created.body.id
  const status = async () => (await call('GET', `/conversations/${displayId}`)).body.status
  const incoming = () => call('POST', `/conversations/${displayId}/messages`, { body: { content: 'again', message_type: 'incoming' } })

  await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'resolved' } })
  await incoming()
  t.equal(await status(), 'pending', 'resolved -> pending for the bot')
  await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'snoozed' } })
  await incoming()
  t.equal(await status(), 'open', 'snoozed -> open even with a bot')

  await sim.query('UPDATE agent_bot_inboxes SET status = 1')
  await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'resolved' } })
  await incoming()
  t.equal(await status(), 'open', 'an inactive bot changes nothing')
})
