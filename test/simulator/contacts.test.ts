import { type Test, test } from 'tap'
import { chatwootApi, contactWithConversation, NOT_FOUND, simulatedAccount, startSimulator } from '../helpers/simulator.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

type Sim = Awaited<ReturnType<typeof startSimulator>>
type Call = ReturnType<typeof chatwootApi>

async function countRows (sim: Sim, table: string): Promise<number> {
  const [row] = await sim.query(`SELECT count(*)::int AS count FROM ${table}`)
  return row.count
}

async function createContact (t: Test, call: Call, body: Record<string, unknown>): Promise<number> {
  const answer = await call('POST', '/contacts', { body })
  t.equal(answer.status, 200, `contact ${JSON.stringify(body)} created`)
  return answer.body.payload.contact.id
}

const idsOf = (payload: Array<{ id: number }>) => payload.map((contact) => contact.id)
const sortedIds = (payload: Array<{ id: number }>) => idsOf(payload).sort((a, b) => a - b)

test('contact create with inbox_id answers the contact with its contact_inboxes and the new contact_inbox', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const answer = await call('POST', '/contacts', {
    body: {
      name: 'Ana Souza',
      email: 'ana@example.com',
      phone_number: '+5511999990000',
      identifier: '5511999990000@s.whatsapp.net',
      custom_attributes: { plan: 'gold' },
      inbox_id: account.inboxId
    }
  })
  t.equal(answer.status, 200)
  const { contact, contact_inbox: contactInbox } = answer.body.payload
  t.match(contact, {
    id: Number,
    name: 'Ana Souza',
    email: 'ana@example.com',
    phone_number: '+5511999990000',
    identifier: '5511999990000@s.whatsapp.net',
    blocked: false,
    custom_attributes: { plan: 'gold' },
    additional_attributes: {}
  })
  t.match(contactInbox.source_id, UUID, 'an API inbox makes a random UUID source_id')
  t.equal(contactInbox.inbox.id, account.inboxId)
  t.equal(contactInbox.inbox.channel_type, 'Channel::Api')
  t.equal(contact.contact_inboxes.length, 1)
  t.equal(contact.contact_inboxes[0].source_id, contactInbox.source_id)
  t.equal(contact.contact_inboxes[0].inbox.id, account.inboxId)

  const rows = await sim.query('SELECT contact_id::int, inbox_id::int, source_id FROM contact_inboxes')
  t.same(rows, [{ contact_id: contact.id, inbox_id: account.inboxId, source_id: contactInbox.source_id }])
  const stored = await sim.query('SELECT name, email, account_id FROM contacts')
  t.same(stored, [{ name: 'Ana Souza', email: 'ana@example.com', account_id: account.accountId }])
})

test('contact create keeps a given source_id, and without inbox_id has no contact_inbox', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const withSource = await call('POST', '/contacts', { body: { name: 'Sourced', inbox_id: account.inboxId, source_id: 'wa-123' } })
  t.equal(withSource.status, 200)
  t.equal(withSource.body.payload.contact_inbox.source_id, 'wa-123')
  t.equal(withSource.body.payload.contact.contact_inboxes[0].source_id, 'wa-123')

  const bare = await call('POST', '/contacts', { body: { name: 'Bare' } })
  t.equal(bare.status, 200)
  t.same(bare.body.payload.contact.contact_inboxes, [])
  t.same(bare.body.payload.contact_inbox, { inbox: null, source_id: null })
  const rows = await sim.query('SELECT contact_id::int, source_id FROM contact_inboxes')
  t.same(rows, [{ contact_id: withSource.body.payload.contact.id, source_id: 'wa-123' }])
})

test('contact create with an inbox_id that does not exist is 404 and leaves no contact behind', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const other = await sim.createAccount()
  const call = chatwootApi(sim, account)
  for (const inboxId of [account.inboxId + 1000, other.inboxId]) {
    const answer = await call('POST', '/contacts', { body: { name: 'Half written', email: 'half@example.com', inbox_id: inboxId } })
    t.equal(answer.status, 404, `inbox ${inboxId}`)
    t.same(answer.body, NOT_FOUND, `inbox ${inboxId}`)
  }
  t.equal(await countRows(sim, 'contacts'), 0, 'no contact row')
  t.equal(await countRows(sim, 'contact_inboxes'), 0, 'no contact_inbox row')
  const again = await call('POST', '/contacts', { body: { name: 'Half written', email: 'half@example.com' } })
  t.equal(again.status, 200, 'the email was never taken')
})

test('contact create with a source_id another contact uses in the inbox is Chatwoot\'s 500, with nothing stored', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const first = await createContact(t, call, { name: 'First', inbox_id: account.inboxId, source_id: 'shared-source' })
  const clash = await call('POST', '/contacts', { body: { name: 'Second', inbox_id: account.inboxId, source_id: 'shared-source' } })
  t.equal(clash.status, 500)
  t.same(clash.body, { status: 500, error: 'Internal Server Error' })
  t.same(await sim.query('SELECT id FROM contacts'), [{ id: first }], 'the second contact was rolled back')
  t.equal(await countRows(sim, 'contact_inboxes'), 1)
})

test('a phone number not in e164 format is a 422 with Rails\' message and attributes', async (t) => {
  const { sim, call } = await simulatedAccount(t)
  for (const phone of ['5511999990000', '+0123456', '+1 555 0100', '+1234567890123456']) {
    const answer = await call('POST', '/contacts', { body: { name: 'Phone', phone_number: phone } })
    t.equal(answer.status, 422, phone)
    t.same(answer.body, { message: 'Phone number should be in e164 format', attributes: ['phone_number'] }, phone)
  }
  t.equal(await countRows(sim, 'contacts'), 0)
})

test('email, identifier and phone number are unique per account; email case-insensitively', async (t) => {
  const { sim, call } = await simulatedAccount(t)
  await createContact(t, call, { name: 'Owner', email: 'Owner@Example.com', identifier: 'owner-id', phone_number: '+15550001111' })

  const email = await call('POST', '/contacts', { body: { name: 'Copy', email: 'owner@EXAMPLE.COM' } })
  t.equal(email.status, 422)
  t.same(email.body, { message: 'Email has already been taken', attributes: ['email'] })

  const identifier = await call('POST', '/contacts', { body: { name: 'Copy', identifier: 'owner-id' } })
  t.equal(identifier.status, 422)
  t.same(identifier.body, { message: 'Identifier has already been taken', attributes: ['identifier'] })

  const phone = await call('POST', '/contacts', { body: { name: 'Copy', phone_number: '+15550001111' } })
  t.equal(phone.status, 422)
  t.same(phone.body, { message: 'Phone number has already been taken', attributes: ['phone_number'] })

  const otherCase = await call('POST', '/contacts', { body: { name: 'Other case', identifier: 'OWNER-ID' } })
  t.equal(otherCase.status, 200, 'the identifier is compared case-sensitively')
  t.equal(await countRows(sim, 'contacts'), 2)
})

test('several validation failures are joined with ", " in Rails\' order', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  await createContact(t, call, { name: 'Taken', email: 'taken@example.com', identifier: 'taken-id' })
  const answer = await call('POST', '/contacts', {
    body: { name: 'Clash', email: 'TAKEN@example.com', identifier: 'taken-id', phone_number: '12345', inbox_id: account.inboxId }
  })
  t.equal(answer.status, 422)
  t.same(answer.body, {
    message: 'Email has already been taken, Identifier has already been taken, Phone number should be in e164 format',
    attributes: ['email', 'identifier', 'phone_number']
  })
  t.equal(await countRows(sim, 'contacts'), 1)
  t.equal(await countRows(sim, 'contact_inboxes'), 0, 'no contact_inbox for the refused contact')
})

test('the same email and identifier are allowed in another account', async (t) => {
  const sim = await startSimulator(t)
  const a = await sim.createAccount()
  const b = await sim.createAccount()
  const body = { name: 'Twin', email: 'twin@example.com', identifier: 'twin-id', phone_number: '+15550002222' }
  const inA = await createContact(t, chatwootApi(sim, a), body)
  const inB = await createContact(t, chatwootApi(sim, b), body)
  t.not(inA, inB)
  const rows = await sim.query('SELECT account_id FROM contacts WHERE email = $1 ORDER BY account_id', ['twin@example.com'])
  t.same(rows, [{ account_id: a.accountId }, { account_id: b.accountId }])
})

test('contact search pages 15 at a time with the total count and the current page', async (t) => {
  const { call } = await simulatedAccount(t)
  const matching: number[] = []
  for (let index = 0; index < 17; index++) matching.push(await createContact(t, call, { name: `Paged Person ${index}`, identifier: `paged-${index}` }))
  await createContact(t, call, { name: 'Someone Else', identifier: 'else' })

  const first = await call('GET', '/contacts/search?q=paged%20person')
  t.equal(first.status, 200)
  t.same(first.body.meta, { count: 17, current_page: 1 })
  t.equal(first.body.payload.length, 15)
  const second = await call('GET', '/contacts/search?q=paged%20person&page=2')
  t.equal(second.status, 200)
  t.same(second.body.meta, { count: 17, current_page: 2 })
  t.equal(second.body.payload.length, 2)
  t.same([...idsOf(first.body.payload), ...idsOf(second.body.payload)].sort((a, b) => a - b), matching,
    'the two pages hold every match once')
  t.match(first.body.payload[0], { id: Number, name: String, identifier: String, contact_inboxes: [] })
})

test('contact search is case-insensitive on name, email and phone, case-sensitive on identifier', async (t) => {
  const { account, call } = await simulatedAccount(t)
  const alice = await createContact(t, call, { name: 'Alice Wonder', identifier: 'alice-1' })
  const bob = await createContact(t, call, { name: 'Bob', email: 'Bob.Mail@Example.com', inbox_id: account.inboxId })
  const carol = await createContact(t, call, { name: 'Carol', phone_number: '+15551234567' })
  const dan = await createContact(t, call, { name: 'Dan', identifier: 'WA-Ident-42' })

  const search = async (q: string) => {
    const answer = await call('GET', `/contacts/search?q=${encodeURIComponent(q)}`)
    t.equal(answer.status, 200, `q=${q}`)
    t.equal(answer.body.meta.count, answer.body.payload.length, `q=${q}: count`)
    return answer.body.payload
  }
  t.same(idsOf(await search('aLICE wON')), [alice], 'name')
  const byEmail = await search('BOB.mail@example')
  t.same(idsOf(byEmail), [bob], 'email')
  t.equal(byEmail[0].contact_inboxes.length, 1, 'the contact carries its contact_inboxes')
  t.equal(byEmail[0].contact_inboxes[0].inbox.id, account.inboxId)
  t.same(idsOf(await search('5551234')), [carol], 'phone')
  t.same(idsOf(await search('WA-Ident')), [dan], 'identifier, same case')
  t.same(idsOf(await search('wa-ident')), [], 'identifier, other case')
})

test('contact search without q is a 422', async (t) => {
  const { call } = await simulatedAccount(t)
  await createContact(t, call, { name: 'Anyone' })
  for (const path of ['/contacts/search', '/contacts/search?q=', '/contacts/search?q=%20%20']) {
    const answer = await call('GET', path)
    t.equal(answer.status, 422, path)
    t.same(answer.body, { error: 'Specify search string with parameter q' }, path)
  }
})

test('contact filter matches name, email, phone_number and identifier conditions', async (t) => {
  const { account, call } = await simulatedAccount(t)
  const ann = await createContact(t, call, {
    name: 'Ann Lee', email: 'ann@filter.test', phone_number: '+15550000001', identifier: 'ID-Ann', inbox_id: account.inboxId
  })
  const ben = await createContact(t, call, { name: 'Ben Lee', email: 'ben@filter.test', phone_number: '+15550000002', identifier: 'ID-Ben' })
  const cy = await createContact(t, call, { name: 'Cy Ho', email: 'cy@other.test', phone_number: '+447700000003', identifier: 'ID-Cy' })

  const condition = (key: string, operator: string, values: string[], join?: string) =>
    ({ attribute_key: key, filter_operator: operator, values, ...(join === undefined ? {} : { query_operator: join }) })
  const filter = async (payload: unknown[]) => {
    const answer = await call('POST', '/contacts/filter', { body: { payload } })
    t.equal(answer.status, 200, JSON.stringify(payload))
    t.same(answer.body.meta, { count: answer.body.payload.length, current_page: 1 }, JSON.stringify(payload))
    return answer.body.payload
  }
  t.same(sortedIds(await filter([condition('name', 'equal_to', ['Ann Lee'])])), [ann], 'name equal_to')
  t.same(sortedIds(await filter([condition('email', 'equal_to', ['ben@filter.test'])])), [ben], 'email equal_to')
  t.same(sortedIds(await filter([condition('phone_number', 'equal_to', ['+447700000003'])])), [cy], 'phone_number equal_to')
  t.same(sortedIds(await filter([condition('identifier', 'equal_to', ['ID-Ben'])])), [ben], 'identifier equal_to')
  t.same(sortedIds(await filter([condition('identifier', 'not_equal_to', ['ID-Ben'])])), [ann, cy], 'identifier not_equal_to')
  t.same(sortedIds(await filter([condition('name', 'contains', ['lee'])])), [ann, ben], 'name contains')
  t.same(sortedIds(await filter([condition('email', 'does_not_contain', ['filter'])])), [cy], 'email does_not_contain')
  t.same(sortedIds(await filter([condition('phone_number', 'starts_with', ['15550000001'])])), [ann], 'phone_number starts_with is equality')
  t.same(sortedIds(await filter([condition('name', 'contains', ['Lee'], 'AND'), condition('email', 'equal_to', ['ann@filter.test'])])),
    [ann], 'two conditions joined with and')
  t.same(sortedIds(await filter([condition('identifier', 'equal_to', ['ID-Ann'], 'or'), condition('identifier', 'equal_to', ['ID-Cy'])])),
    [ann, cy], 'two conditions joined with or')
  const [withInbox] = await filter([condition('identifier', 'equal_to', ['ID-Ann'])])
  t.equal(withInbox.contact_inboxes[0].inbox.id, account.inboxId, 'the contact carries its contact_inboxes')
})

test('contact filter pages 15 at a time like search', async (t) => {
  const { call } = await simulatedAccount(t)
  const matching: number[] = []
  for (let index = 0; index < 17; index++) matching.push(await createContact(t, call, { name: `Bulk ${index}` }))
  await createContact(t, call, { name: 'Other' })
  const payload = [{ attribute_key: 'name', filter_operator: 'contains', values: ['Bulk'] }]
  const first = await call('POST', '/contacts/filter', { body: { payload } })
  t.equal(first.status, 200)
  t.same(first.body.meta, { count: 17, current_page: 1 })
  t.equal(first.body.payload.length, 15)
  const second = await call('POST', '/contacts/filter?page=2', { body: { payload } })
  t.equal(second.status, 200)
  t.same(second.body.meta, { count: 17, current_page: 2 })
  t.equal(second.body.payload.length, 2)
  t.same([...idsOf(first.body.payload), ...idsOf(second.body.payload)].sort((a, b) => a - b), matching)
})

test('a contact\'s conversations are at most 20, newest last_activity_at first', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { contactId, sourceId, displayId: firstDisplayId } = await contactWithConversation(call, account.inboxId, 'busy@s.whatsapp.net')
  const displayIds = [firstDisplayId]
  for (let index = 1; index < 22; index++) {
    const answer = await call('POST', '/conversations', { body: { contact_id: contactId, inbox_id: account.inboxId, source_id: sourceId } })
    t.equal(answer.status, 200)
    displayIds.push(answer.body.id)
  }
  // Activity in an order unrelated to creation: minutesAgo[i] for displayIds[i].
  const minutesAgo = displayIds.map((_, index) => (index * 7) % displayIds.length)
  for (const [index, displayId] of displayIds.entries()) {
    await sim.query(`UPDATE conversations SET last_activity_at = utc_now() - $1 * interval '1 minute'
      WHERE account_id = $2 AND display_id = $3`, [minutesAgo[index], account.accountId, displayId])
  }
  const stranger = await contactWithConversation(call, account.inboxId, 'stranger@s.whatsapp.net')

  const answer = await call('GET', `/contacts/${contactId}/conversations`)
  t.equal(answer.status, 200)
  const expected = displayIds.map((displayId, index) => ({ displayId, ago: minutesAgo[index]! }))
    .sort((a, b) => a.ago - b.ago).slice(0, 20).map((entry) => entry.displayId)
  t.same(answer.body.payload.map((conversation: { id: number }) => conversation.id), expected)
  t.notOk(answer.body.payload.some((conversation: { id: number }) => conversation.id === stranger.displayId),
    'another contact\'s conversation is not listed')
  t.equal(answer.body.payload[0].meta.sender.id, contactId)
})

test('the conversations of an unknown contact, or of another account\'s contact, are 404', async (t) => {
  const sim = await startSimulator(t)
  const a = await sim.createAccount()
  const b = await sim.createAccount()
  const inB = await contactWithConversation(chatwootApi(sim, b), b.inboxId, 'b@s.whatsapp.net')
  const call = chatwootApi(sim, a)
  for (const contactId of [inB.contactId + 1000, inB.contactId]) {
    const answer = await call('GET', `/contacts/${contactId}/conversations`)
    t.equal(answer.status, 404, `contact ${contactId}`)
    t.same(answer.body, NOT_FOUND, `contact ${contactId}`)
  }
})

test('contact_inboxes create is idempotent for the same contact, inbox and source_id', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const contactId = await createContact(t, call, { name: 'Linked' })
  const first = await call('POST', `/contacts/${contactId}/contact_inboxes`, { body: { inbox_id: account.inboxId, source_id: 'fixed-1' } })
  t.equal(first.status, 200)
  t.equal(first.body.source_id, 'fixed-1')
  t.equal(first.body.inbox.id, account.inboxId)
  const second = await call('POST', `/contacts/${contactId}/contact_inboxes`, { body: { inbox_id: account.inboxId, source_id: 'fixed-1' } })
  t.equal(second.status, 200)
  t.same(second.body, first.body)
  const rows = await sim.query('SELECT contact_id::int, inbox_id::int, source_id FROM contact_inboxes')
  t.same(rows, [{ contact_id: contactId, inbox_id: account.inboxId, source_id: 'fixed-1' }])
})

test('contact_inboxes create without inbox_id, or with an unknown contact or inbox, is 404 (CONTRACT.md)', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const contactId = await createContact(t, call, { name: 'Unlinked' })
  for (const body of [{}, { source_id: 'x' }, { inbox_id: '' }]) {
    const answer = await call('POST', `/contacts/${contactId}/contact_inboxes`, { body })
    t.equal(answer.status, 404, JSON.stringify(body))
    t.same(answer.body, NOT_FOUND, JSON.stringify(body))
  }
  const noInbox = await call('POST', `/contacts/${contactId}/contact_inboxes`, { body: { inbox_id: account.inboxId + 1000 } })
  t.equal(noInbox.status, 404)
  t.same(noInbox.body, NOT_FOUND)
  const noContact = await call('POST', `/contacts/${contactId + 1000}/contact_inboxes`, { body: { inbox_id: account.inboxId } })
  t.equal(noContact.status, 404)
  t.same(noContact.body, NOT_FOUND)
  t.equal(await countRows(sim, 'contact_inboxes'), 0)
})

test('conversation create without source_id for a contact already in the inbox makes a second, orphan contact_inbox', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const created = await call('POST', '/contacts', { body: { name: 'Trapped', inbox_id: account.inboxId } })
  const contactId: number = created.body.payload.contact.id
  const sourceId: string = created.body.payload.contact_inbox.source_id
  const conversation = await call('POST', '/conversations', { body: { contact_id: contactId, inbox_id: account.inboxId } })
  t.equal(conversation.status, 200)
  const rows = await sim.query('SELECT id::int, source_id FROM contact_inboxes WHERE contact_id = $1 AND inbox_id = $2 ORDER BY id',
    [contactId, account.inboxId])
  t.equal(rows.length, 2, 'two contact_inboxes for one contact in one inbox')
  t.equal(rows[0].source_id, sourceId)
  t.not(rows[1].source_id, sourceId)
  const [stored] = await sim.query('SELECT contact_inbox_id::int FROM conversations WHERE display_id = $1 AND account_id = $2',
    [conversation.body.id, account.accountId])
  t.equal(stored.contact_inbox_id, rows[1].id, 'the conversation hangs on the new contact_inbox')
})

test('conversation create with the existing source_id reuses the contact_inbox', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const created = await call('POST', '/contacts', { body: { name: 'Careful', inbox_id: account.inboxId } })
  const contactId: number = created.body.payload.contact.id
  const sourceId: string = created.body.payload.contact_inbox.source_id
  for (let index = 0; index < 2; index++) {
    const conversation = await call('POST', '/conversations', { body: { contact_id: contactId, inbox_id: account.inboxId, source_id: sourceId } })
    t.equal(conversation.status, 200)
  }
  const rows = await sim.query('SELECT id::int, source_id FROM contact_inboxes WHERE contact_id = $1', [contactId])
  t.equal(rows.length, 1, 'one contact_inbox')
  t.equal(rows[0].source_id, sourceId)
  const conversations = await sim.query('SELECT contact_inbox_id::int FROM conversations')
  t.same(conversations, [{ contact_inbox_id: rows[0].id }, { contact_inbox_id: rows[0].id }])
})

test('conversation create with a source_id another contact uses in the inbox is 422 source_id should be unique', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const owner = await call('POST', '/contacts', { body: { name: 'Owner', inbox_id: account.inboxId } })
  const sourceId: string = owner.body.payload.contact_inbox.source_id
  const intruder = await createContact(t, call, { name: 'Intruder' })
  const answer = await call('POST', '/conversations', { body: { contact_id: intruder, inbox_id: account.inboxId, source_id: sourceId } })
  t.equal(answer.status, 422)
  t.same(answer.body, { error: 'source_id should be unique' })
  t.equal(await countRows(sim, 'conversations'), 0)
  t.same(await sim.query('SELECT contact_id::int FROM contact_inboxes'), [{ contact_id: owner.body.payload.contact.id }])
})
