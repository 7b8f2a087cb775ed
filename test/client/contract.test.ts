import { test } from 'tap'
import { ChatwootError, type ContactFilter } from '../../lib/client/index.js'
import { findContact } from '../../lib/conversations/get-or-create.js'
import { withClient } from '../helpers/client.js'
import { usesServers } from '../setup/servers.js'

// Issue 14, the client's side: what it sends keeps clear of the answers CONTRACT.md says Chatwoot gives
// to a malformed call (500s no retry can cure), against the simulator that now gives them too.
// Items 1 and 3 here; 7 and 9 in contract-messages.test.ts; 11 in contract-operations.test.ts.

usesServers('postgres')

const failure = (promise: Promise<unknown>): Promise<ChatwootError> => promise.then(
  (answer) => { throw new Error(`expected the call to fail, it answered ${JSON.stringify(answer)}`) },
  (error: unknown) => { if (error instanceof ChatwootError) return error; throw error })

type Setup = Awaited<ReturnType<typeof withClient>>

async function threeContacts ({ call }: Setup) {
  for (const [name, identifier, phone] of [['Ana Lima', 'ana', '+14155550123'], ['Bruno Alves', 'bruno', '+14155550124'], ['Cid', 'cid', null]]) {
    const created = await call('POST', '/contacts', { body: { name, identifier, phone_number: phone ?? undefined } })
    if (created.status !== 200) throw new Error(`contact create answered ${created.status}: ${created.text}`)
  }
}

const names = (page: { payload: Array<{ name: string | null }> }) => page.payload.map((contact) => contact.name).sort()

test('item 1: conditions without query_operator, or with a trailing one, are sent as Chatwoot needs them', async (t) => {
  const setup = await withClient(t)
  const { call, client } = setup
  await threeContacts(setup)
  const unjoined: ContactFilter[] = [
    { attribute_key: 'name', filter_operator: 'contains', values: ['a'] },
    { attribute_key: 'phone_number', filter_operator: 'equal_to', values: ['+14155550124'] }
  ]
  // As given, Chatwoot writes no operator between the two conditions into its SQL: a syntax error.
  const raw = await call('POST', '/contacts/filter', { body: { payload: unjoined } })
  t.same([raw.status, raw.body], [500, { status: 500, error: 'Internal Server Error' }], 'the raw payload is Chatwoot\'s 500')
  t.same(names(await client.filterContacts(unjoined)), ['Bruno Alves'], 'the client joins them with AND')

  const trailing: ContactFilter[] = [
    { attribute_key: 'identifier', filter_operator: 'equal_to', values: ['ANA'], query_operator: 'or' },
    { attribute_key: 'identifier', filter_operator: 'equal_to', values: ['cid'], query_operator: 'and' }
  ]
  t.equal((await call('POST', '/contacts/filter', { body: { payload: trailing } })).status, 500, 'a trailing operator is a 500 too')
  t.same(names(await client.filterContacts(trailing)), ['Ana Lima', 'Cid'], 'the caller\'s OR is kept, the trailing AND dropped')
  t.same(names(await client.filterContacts([...trailing, { attribute_key: 'name', filter_operator: 'not_equal_to', values: ['cid'] }])),
    ['Ana Lima'], 'three conditions: the AND kept between the last two binds first, as in Chatwoot\'s SQL')
})

test('item 1: starts_with is phone_number\'s alone, and Chatwoot runs it as an exact match', async (t) => {
  const setup = await withClient(t)
  await threeContacts(setup)
  const { client } = setup
  t.same(names(await client.filterContacts([{ attribute_key: 'phone_number', filter_operator: 'starts_with', values: ['14155550123'] }])),
    ['Ana Lima'], 'a phone without "+" is compared as "+" and its digits')
  t.same(names(await client.filterContacts([{ attribute_key: 'phone_number', filter_operator: 'starts_with', values: ['+1415'] }])), [],
    'not a prefix match')
})

test('item 1: values and operators Chatwoot would refuse (or misread) are refused before anything is sent', async (t) => {
  const { sim, client } = await withClient(t)
  const cases: Array<[ContactFilter[], RegExp]> = [
    [[{ attribute_key: 'name', filter_operator: 'equal_to', values: [] }], /filters\[0\]\.values must be a non-empty array of strings/],
    [[{ attribute_key: 'name', filter_operator: 'contains', values: [''] }], /filters\[0\]\.values\[0\] must be a non-empty string/],
    [[{ attribute_key: 'name', filter_operator: 'equal_to', values: undefined as unknown as string[] }], /filters\[0\]\.values must be/],
    [[{ attribute_key: 'email', filter_operator: 'equal_to', values: ['a@b.c'] }, { attribute_key: 'name', filter_operator: 'starts_with', values: ['An'] }],
      /filters\[1\]\.filter_operator "starts_with" is not allowed for name: use one of \[equal_to, not_equal_to, contains, does_not_contain\]/],
    [[{ attribute_key: 'identifier', filter_operator: 'contains', values: ['an'] }],
      /"contains" is not allowed for identifier: use one of \[equal_to, not_equal_to\]/],
    [[{ attribute_key: 'city', filter_operator: 'starts_with', values: ['Lis'] }], /starts_with is for phone_number only/],
    [[{ attribute_key: 'name', filter_operator: 'equal_to', values: ['x'], query_operator: 'xor' as 'or' }, { attribute_key: 'name', filter_operator: 'equal_to', values: ['y'] }],
      /filters\[0\]\.query_operator must be 'and' or 'or', got "xor"/],
    [[], /filters must be a non-empty array/]
  ]
  for (const [filters, message] of cases) {
    const error = await failure(client.filterContacts(filters))
    t.match(error, { code: 'FST_CHATWOOT_INPUT_INVALID', statusCode: 400, retryable: false, mayHaveLanded: false, operation: 'filterContacts' })
    t.match(error.message, message)
  }
  t.same(sim.requests, [], 'nothing was sent')
})

test('item 1: the conversations plugin\'s findContact still finds by identifier, then by phone', async (t) => {
  const setup = await withClient(t)
  await threeContacts(setup)
  const { client, sim } = setup
  t.equal((await findContact(client, { identifier: 'bruno', phone_number: '+19999999999' }))?.name, 'Bruno Alves', 'by identifier first')
  t.equal((await findContact(client, { identifier: 'nobody', phone_number: '+14155550123' }))?.name, 'Ana Lima', 'then by phone')
  t.equal(await findContact(client, { identifier: 'nobody' }), undefined)
  t.ok(sim.requests.every((request) => request.status === 200), 'every filter answered 200')
})

test('item 3: createContactInbox answered 500 for a source_id another contact holds fails at once, with a hint', async (t) => {
  const { sim, account, call, client } = await withClient(t)
  const owner = await call('POST', '/contacts', { body: { name: 'Owner', identifier: 'owner', inbox_id: account.inboxId, source_id: 'shared-src' } })
  const other = await call('POST', '/contacts', { body: { name: 'Other', identifier: 'other' } })
  t.same([owner.status, other.status], [200, 200])
  sim.requests.length = 0

  const error = await failure(client.createContactInbox(other.body.payload.contact.id, { inbox_id: account.inboxId, source_id: 'shared-src' }))
  t.match(error, { code: 'FST_CHATWOOT_SERVER', statusCode: 500, retryable: false, operation: 'createContactInbox' })
  t.match(error.message, /answered 500: Internal Server Error \(the source_id is probably held by another contact in this inbox/)
  t.match(error.message, /sending it again cannot help/)
  t.notMatch(error.message, /shared-src/, 'the source_id itself (often a phone number) is not in the message')
  t.same(sim.requests.map(({ method, status }) => `${method} ${status}`), ['POST 500'], 'one request: no retry')

  const same = await client.createContactInbox(owner.body.payload.contact.id, { inbox_id: account.inboxId, source_id: 'shared-src' })
  t.equal(same.source_id, 'shared-src', 'the owner asking again is idempotent')
  const rows = await sim.query('SELECT contact_id::int FROM contact_inboxes WHERE source_id = $1', ['shared-src'])
  t.same(rows, [{ contact_id: owner.body.payload.contact.id }])
})

test('item 3: other failures of createContactInbox with a source_id are still retried (idempotent): a reset connection', async (t) => {
  const { sim, account, call, client } = await withClient(t)
  const contact = await call('POST', '/contacts', { body: { name: 'Solo', identifier: 'solo' } })
  sim.requests.length = 0
  sim.faults.add({ method: 'POST', path: /\/contact_inboxes$/, resetBeforeCommit: true })
  const answer = await client.createContactInbox(contact.body.payload.contact.id, { inbox_id: account.inboxId, source_id: 'solo-src' })
  t.equal(answer.source_id, 'solo-src')
  t.same(sim.requests.map(({ status }) => status), [0, 200], 'a reset is retried')
})
