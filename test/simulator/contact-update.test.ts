import { test } from 'tap'
import { NOT_FOUND, simulatedAccount } from '../helpers/simulator.js'

// ContactsController#update as Chatwoot runs it: only the given fields change, the attribute hashes merge
// key by key, the whole record is validated again (uniqueness leaves the contact itself out).

test('PUT /contacts/:id changes only the given fields; additional and custom attributes merge at the top level', async (t) => {
  const { account, call } = await simulatedAccount(t)
  const created = await call('POST', '/contacts', {
    body: {
      name: 'Ana',
      identifier: '104612345678901@lid',
      inbox_id: account.inboxId,
      additional_attributes: { city: 'Recife', social: { x: 'ana' } },
      custom_attributes: { plan: 'gold' }
    }
  })
  const contactId: number = created.body.payload.contact.id

  const answer = await call('PUT', `/contacts/${contactId}`, {
    body: { phone_number: '+5511999990001', additional_attributes: { aliases: ['5511999990001@s.whatsapp.net'], social: { ig: 'ana' } } }
  })
  t.equal(answer.status, 200)
  t.match(answer.body.payload, {
    id: contactId,
    name: 'Ana',
    identifier: '104612345678901@lid',
    phone_number: '+5511999990001',
    custom_attributes: { plan: 'gold' },
    contact_inboxes: [{ inbox: { id: account.inboxId } }]
  })
  t.same(answer.body.payload.additional_attributes,
    { city: 'Recife', aliases: ['5511999990001@s.whatsapp.net'], social: { ig: 'ana' } },
    'merged key by key; a nested hash given replaces the stored one whole')

  const again = await call('PATCH', `/contacts/${contactId}`, { body: { name: 'Ana Souza' } })
  t.equal(again.status, 200, 'PATCH is the same action')
  t.match(again.body.payload, { name: 'Ana Souza', phone_number: '+5511999990001', additional_attributes: { city: 'Recife' } })

  const found = await call('POST', '/contacts/filter', {
    body: { payload: [{ attribute_key: 'phone_number', filter_operator: 'equal_to', values: ['5511999990001'] }] }
  })
  t.same(found.body.payload.map((contact: { id: number }) => contact.id), [contactId], 'the filter finds it by the new phone')
})

test('PUT /contacts/:id refuses what another contact holds (422, nothing changed); its own values pass', async (t) => {
  const { sim, call } = await simulatedAccount(t)
  await call('POST', '/contacts', { body: { name: 'Other', phone_number: '+5511999990002', email: 'other@example.com' } })
  const mine = await call('POST', '/contacts', { body: { name: 'Mine', identifier: 'mine', phone_number: '+5511999990003' } })
  const contactId: number = mine.body.payload.contact.id

  const taken = await call('PUT', `/contacts/${contactId}`, { body: { phone_number: '+5511999990002', additional_attributes: { a: 1 } } })
  t.equal(taken.status, 422)
  t.same(taken.body, { message: 'Phone number has already been taken', attributes: ['phone_number'] })
  const email = await call('PUT', `/contacts/${contactId}`, { body: { email: 'OTHER@example.com' } })
  t.same(email.body, { message: 'Email has already been taken', attributes: ['email'] }, 'emails compare case-insensitively')
  const format = await call('PUT', `/contacts/${contactId}`, { body: { phone_number: '5511999990004' } })
  t.same(format.body, { message: 'Phone number should be in e164 format', attributes: ['phone_number'] })
  t.same(await sim.query('SELECT phone_number, additional_attributes FROM contacts WHERE id = $1', [contactId]),
    [{ phone_number: '+5511999990003', additional_attributes: {} }], 'a refused update changes nothing')

  const own = await call('PUT', `/contacts/${contactId}`, { body: { phone_number: '+5511999990003', identifier: 'mine' } })
  t.equal(own.status, 200, 'the contact\'s own phone and identifier are not "taken"')
  const cleared = await call('PUT', `/contacts/${contactId}`, { body: { phone_number: '' } })
  t.equal(cleared.body.payload.phone_number, null, 'a blank phone clears it')
})

test('PUT /contacts/:id: a missing or foreign contact is 404; a bot token is refused', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const missing = await call('PUT', '/contacts/999999', { body: { name: 'x' } })
  t.equal(missing.status, 404)
  t.same(missing.body, NOT_FOUND)
  const other = await sim.createAccount()
  const foreign = await call('POST', '/contacts', { body: { name: 'x' } })
  const elsewhere = await call('PUT', `/contacts/${foreign.body.payload.contact.id}`, { body: { name: 'y' }, token: other.token })
  t.equal(elsewhere.status, 401, 'a token of another account is not in this one')
  const bot = await call('PUT', `/contacts/${foreign.body.payload.contact.id}`, { body: { name: 'y' }, token: account.botToken })
  t.same({ status: bot.status, body: bot.body }, { status: 401, body: { error: 'Access to this endpoint is not authorized for bots' } })
})
