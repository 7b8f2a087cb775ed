import { test } from 'tap'
import { chatwootApi, contactWithConversation, NOT_FOUND, simulatedAccount } from '../helpers/simulator.js'

test('contact merge moves the mergee conversations and contact_inboxes to the base and deletes the mergee', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const base = await contactWithConversation(call, account.inboxId, 'base-id')
  const mergee = await contactWithConversation(call, account.inboxId, 'mergee-id')
  await sim.query("UPDATE contacts SET email = 'mergee@example.com', identifier = NULL WHERE id = $1", [base.contactId])
  await sim.query("UPDATE contacts SET phone_number = '+14155550123', email = NULL WHERE id = $1", [mergee.contactId])
  const incoming = await call('POST', `/conversations/${mergee.displayId}/messages`, { body: { content: 'from mergee', message_type: 'incoming' } })

  const merged = await call('POST', '/actions/contact_merge', { body: { base_contact_id: base.contactId, mergee_contact_id: mergee.contactId } })
  t.equal(merged.status, 200)
  t.same(merged.body, {
    additional_attributes: {},
    availability_status: 'offline',
    email: 'mergee@example.com',
    id: base.contactId,
    name: 'base-id',
    phone_number: '+14155550123',
    blocked: false,
    identifier: 'mergee-id',
    thumbnail: '',
    custom_attributes: {},
    last_activity_at: merged.body.last_activity_at,
    created_at: merged.body.created_at
  }, "the base contact, blanks filled from the mergee's attributes, no contact_inboxes")

  t.same(await sim.query('SELECT id FROM contacts WHERE id = $1', [mergee.contactId]), [], 'the mergee is gone')
  t.same(await sim.query('SELECT source_id, contact_id::int FROM contact_inboxes ORDER BY id'),
    [{ source_id: base.sourceId, contact_id: base.contactId }, { source_id: mergee.sourceId, contact_id: base.contactId }],
    'one contact now holds two contact_inboxes in one inbox')
  t.same(await sim.query('SELECT display_id, contact_id::int FROM conversations ORDER BY display_id'),
    [{ display_id: base.displayId, contact_id: base.contactId }, { display_id: mergee.displayId, contact_id: base.contactId }])
  t.same(await sim.query('SELECT sender_id::int FROM messages WHERE id = $1', [incoming.body.id]), [{ sender_id: base.contactId }])

  const gone = await call('GET', `/contacts/${mergee.contactId}/conversations`)
  t.equal(gone.status, 404, 'a cached mergee id now 404s')
  t.same(gone.body, NOT_FOUND)
  const conversation = await call('GET', `/conversations/${mergee.displayId}`)
  t.equal(conversation.body.meta.sender.id, base.contactId, 'the moved conversation shows the base as its contact')
})

test('contact merge: the base identifier wins, the same contact twice is a no-op, unknown ids 404, bots 401', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const base = await contactWithConversation(call, account.inboxId, 'keeps-identifier')
  const mergee = await contactWithConversation(call, account.inboxId, 'loses-identifier')
  const other = await sim.createAccount()
  const foreign = await contactWithConversation(chatwootApi(sim, other), other.inboxId, 'foreign')

  const same = await call('POST', '/actions/contact_merge', { body: { base_contact_id: base.contactId, mergee_contact_id: base.contactId } })
  t.equal(same.status, 200)
  t.equal(same.body.id, base.contactId)
  t.equal((await sim.query('SELECT count(*)::int AS count FROM contacts WHERE account_id = $1', [account.accountId]))[0].count, 2, 'nothing deleted')

  for (const body of [
    { base_contact_id: base.contactId, mergee_contact_id: 99999 },
    { base_contact_id: 99999, mergee_contact_id: mergee.contactId },
    { base_contact_id: base.contactId },
    { base_contact_id: base.contactId, mergee_contact_id: foreign.contactId }
  ]) {
    const answer = await call('POST', '/actions/contact_merge', { body })
    t.equal(answer.status, 404, JSON.stringify(body))
    t.same(answer.body, NOT_FOUND)
  }
  const bot = await call('POST', '/actions/contact_merge',
    { body: { base_contact_id: base.contactId, mergee_contact_id: mergee.contactId }, token: account.botToken })
  t.equal(bot.status, 401)
  t.same(bot.body, { error: 'Access to this endpoint is not authorized for bots' })
  t.equal((await sim.query('SELECT count(*)::int AS count FROM contacts WHERE account_id = $1', [account.accountId]))[0].count, 2, 'still both')

  const merged = await call('POST', '/actions/contact_merge', { body: { base_contact_id: base.contactId, mergee_contact_id: mergee.contactId } })
  t.equal(merged.status, 200)
  t.equal(merged.body.identifier, 'keeps-identifier', "the mergee's identifier is lost")
  t.same(await sim.query("SELECT id FROM contacts WHERE identifier = 'loses-identifier'"), [])
})
