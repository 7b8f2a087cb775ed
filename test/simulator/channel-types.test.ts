import { test } from 'tap'
import { chatwootApi, NOT_FOUND, startSimulator } from '../helpers/simulator.js'

const INTERNAL_ERROR = { status: 500, error: 'Internal Server Error' }

test('a WhatsApp inbox: source_id is the phone without "+", a contact without phone is a 422, a bad source_id too', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount({ channelType: 'Channel::Whatsapp' })
  const call = chatwootApi(sim, account)
  const inboxes = await call('GET', '/inboxes')
  t.match(inboxes.body.payload, [{ id: account.inboxId, channel_type: 'Channel::Whatsapp' }])

  const ana = (await call('POST', '/contacts', { body: { name: 'Ana', phone_number: '+14155550123' } })).body.payload.contact
  const made = await call('POST', `/contacts/${ana.id}/contact_inboxes`, { body: { inbox_id: account.inboxId } })
  t.equal(made.status, 200)
  t.equal(made.body.source_id, '14155550123')
  t.equal(made.body.inbox.channel_type, 'Channel::Whatsapp')

  const noPhone = (await call('POST', '/contacts', { body: { name: 'No phone' } })).body.payload.contact
  const missing = await call('POST', `/contacts/${noPhone.id}/contact_inboxes`, { body: { inbox_id: account.inboxId } })
  t.equal(missing.status, 422)
  t.same(missing.body, { error: 'param is missing or the value is empty: contact phone number' })
  const withInbox = await call('POST', '/contacts', { body: { name: 'Also no phone', inbox_id: account.inboxId } })
  t.equal(withInbox.status, 422, 'contact create with the inbox fails the same way')
  t.same(withInbox.body, { error: 'param is missing or the value is empty: contact phone number' })
  t.same(await sim.query("SELECT id FROM contacts WHERE name = 'Also no phone'"), [], 'and leaves no contact')

  const badShape = await call('POST', `/contacts/${noPhone.id}/contact_inboxes`, { body: { inbox_id: account.inboxId, source_id: '+14155550999' } })
  t.equal(badShape.status, 422)
  t.same(badShape.body, {
    message: 'Source invalid source id for whatsapp inbox. valid Regex (?-mix:^\\d{1,15}\\z)', attributes: ['source_id']
  })
  const incoming = await call('POST', '/conversations', { body: { contact_id: ana.id, inbox_id: account.inboxId, source_id: made.body.source_id } })
  const message = await call('POST', `/conversations/${incoming.body.id}/messages`, { body: { content: 'hi', message_type: 'incoming' } })
  t.equal(message.status, 422, 'incoming messages only through API inboxes')
})

test('a WhatsApp inbox renames the other contact\'s row on a source_id clash; an API inbox answers 500', async (t) => {
  const sim = await startSimulator(t)
  const whatsapp = await sim.createAccount({ channelType: 'Channel::Whatsapp' })
  const call = chatwootApi(sim, whatsapp)
  const first = (await call('POST', '/contacts', { body: { name: 'First', phone_number: '+14155550123', inbox_id: whatsapp.inboxId } })).body.payload
  t.equal(first.contact_inbox.source_id, '14155550123')
  const second = (await call('POST', '/contacts', { body: { name: 'Second' } })).body.payload.contact
  const taken = await call('POST', `/contacts/${second.id}/contact_inboxes`, { body: { inbox_id: whatsapp.inboxId, source_id: '14155550123' } })
  t.equal(taken.status, 200, 'the call succeeds')
  t.equal(taken.body.source_id, '14155550123')
  const rows = await sim.query('SELECT contact_id::int, source_id FROM contact_inboxes ORDER BY id')
  t.equal(rows.length, 2)
  t.equal(rows[0].contact_id, first.contact.id)
  t.match(rows[0].source_id, /^whatsapp:14155550123\d{1,2}$/, "the first contact's row was renamed")
  t.same(rows[1], { contact_id: second.id, source_id: '14155550123' })

  const api = await sim.createAccount()
  const apiCall = chatwootApi(sim, api)
  const owner = (await apiCall('POST', '/contacts', { body: { name: 'Owner', inbox_id: api.inboxId, source_id: 'shared' } })).body.payload.contact
  const other = (await apiCall('POST', '/contacts', { body: { name: 'Other' } })).body.payload.contact
  const clash = await apiCall('POST', `/contacts/${other.id}/contact_inboxes`, { body: { inbox_id: api.inboxId, source_id: 'shared' } })
  t.equal(clash.status, 500)
  t.same(clash.body, INTERNAL_ERROR)
  const again = await apiCall('POST', `/contacts/${owner.id}/contact_inboxes`, { body: { inbox_id: api.inboxId, source_id: 'shared' } })
  t.equal(again.status, 200, 'the owner asking again is idempotent')
  t.equal((await sim.query("SELECT count(*)::int AS count FROM contact_inboxes WHERE source_id = 'shared'"))[0].count, 1)

  for (const body of [{}, { inbox_id: 99999 }, { inbox_id: whatsapp.inboxId }]) {
    const answer = await apiCall('POST', `/contacts/${other.id}/contact_inboxes`, { body })
    t.equal(answer.status, 404, `${JSON.stringify(body)}: missing, unknown or another account's inbox`)
    t.same(answer.body, NOT_FOUND)
  }
})

test('SMS and Email inboxes generate the phone and the email; a missing email is a 422', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount({ channelType: 'Channel::Sms' })
  const call = chatwootApi(sim, account)
  const email = await sim.createInbox(account.accountId, { channelType: 'Channel::Email' })
  const ana = (await call('POST', '/contacts', { body: { name: 'Ana', phone_number: '+5511987654321', email: 'Ana@Example.com' } })).body.payload.contact
  t.equal((await call('POST', `/contacts/${ana.id}/contact_inboxes`, { body: { inbox_id: account.inboxId } })).body.source_id, '+5511987654321')
  t.equal((await call('POST', `/contacts/${ana.id}/contact_inboxes`, { body: { inbox_id: email } })).body.source_id, 'ana@example.com')
  const bare = (await call('POST', '/contacts', { body: { name: 'Bare' } })).body.payload.contact
  const missing = await call('POST', `/contacts/${bare.id}/contact_inboxes`, { body: { inbox_id: email } })
  t.equal(missing.status, 422)
  t.same(missing.body, { error: 'param is missing or the value is empty: contact email' })
})
