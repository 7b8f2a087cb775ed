import { createServer } from 'node:net'
import { Readable } from 'node:stream'
import { inspect } from 'node:util'
import { test } from 'tap'
import { Pool } from 'undici'
import { type Attachment, ChatwootClient, type ChatwootClientOptions, ChatwootError } from '../../lib/client/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { contactWithConversation, NOT_FOUND, simulatedAccount } from '../helpers/simulator.js'

type Teardown = { teardown: (fn: () => unknown) => void }

/** A client on the simulated account, with quick retries, closed when the test ends. */
function clientFor (t: Teardown, sim: ChatwootSimulator, account: CreatedAccount, options: Partial<ChatwootClientOptions> = {}) {
  const client = new ChatwootClient({
    url: sim.url, accountId: account.accountId, token: account.token, retry: { minDelayMs: 1, maxDelayMs: 5 }, ...options
  })
  t.teardown(() => client.close())
  return client
}

/** The rejection of a call that must fail; a call that succeeds fails the test. */
async function failure (promise: Promise<unknown>): Promise<ChatwootError> {
  let answer: unknown
  try {
    answer = await promise
  } catch (error) {
    if (error instanceof ChatwootError) return error
    throw error
  }
  throw new Error(`expected the call to fail, it answered ${JSON.stringify(answer)}`)
}

/** A port nothing listens on: a server took it, then let it go. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve, reject) => server.close((error) => error === undefined ? resolve() : reject(error)))
  return port
}

const accountPath = (account: CreatedAccount) => `/api/v1/accounts/${account.accountId}`

test('createContact with an inbox_id answers the contact and its contact_inbox, as stored', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const created = await client.createContact({
    name: 'Ana Lima', identifier: '5511999990001@s.whatsapp.net', phone_number: '+5511999990001', inbox_id: account.inboxId
  })
  const { contact, contact_inbox: contactInbox } = created.payload
  t.equal(contact.name, 'Ana Lima')
  t.equal(contact.identifier, '5511999990001@s.whatsapp.net')
  t.equal(contact.phone_number, '+5511999990001')
  t.equal(contactInbox.inbox?.id, account.inboxId)
  t.type(contactInbox.source_id, 'string')
  t.not(contactInbox.source_id, '', 'the API inbox generated a source_id')

  const contacts = await sim.query('SELECT id, name, identifier, phone_number, account_id FROM contacts')
  t.same(contacts, [{
    id: contact.id, name: 'Ana Lima', identifier: '5511999990001@s.whatsapp.net', phone_number: '+5511999990001', account_id: account.accountId
  }])
  const contactInboxes = await sim.query('SELECT contact_id::int, inbox_id::int, source_id FROM contact_inboxes')
  t.same(contactInboxes, [{ contact_id: contact.id, inbox_id: account.inboxId, source_id: contactInbox.source_id }])
})

test('searchContacts and filterContacts answer a page of contacts with their contact_inboxes', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const ana = await client.createContact({ name: 'Ana Search', identifier: 'ana@s.whatsapp.net', inbox_id: account.inboxId })
  await client.createContact({ name: 'Bruno Other', identifier: 'bruno@s.whatsapp.net' })

  const found = await client.searchContacts('ana search', { page: 1 })
  t.same(found.meta, { count: 1, current_page: 1 })
  t.equal(found.payload.length, 1)
  t.equal(found.payload[0]?.id, ana.payload.contact.id)
  t.same(found.payload[0]?.contact_inboxes?.map((contactInbox) => [contactInbox.source_id, contactInbox.inbox.id]),
    [[ana.payload.contact_inbox.source_id, account.inboxId]])

  const later = await client.searchContacts('ana search', { page: 2 })
  t.equal(later.meta.count, 1, 'the count covers every page')
  t.equal(Number(later.meta.current_page), 2, 'the page asked for travels in the query')
  t.same(later.payload, [], 'the second page is empty')

  const filtered = await client.filterContacts(
    [{ attribute_key: 'identifier', filter_operator: 'equal_to', values: ['ana@s.whatsapp.net'], query_operator: null }], { page: 1 })
  t.same(filtered.meta, { count: 1, current_page: 1 })
  t.same(filtered.payload.map((contact) => contact.identifier), ['ana@s.whatsapp.net'])
  t.same(filtered.payload[0]?.contact_inboxes?.map((contactInbox) => contactInbox.source_id), [ana.payload.contact_inbox.source_id])

  const everyoneElse = await client.filterContacts(
    [{ attribute_key: 'name', filter_operator: 'does_not_contain', values: ['Ana'], query_operator: null }])
  t.same(everyoneElse.payload.map((contact) => contact.identifier), ['bruno@s.whatsapp.net'])
})

test('createContactInbox answers {source_id, inbox} and stores the given source_id once', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const created = await client.createContact({ name: 'No inbox yet', identifier: 'later@s.whatsapp.net' })
  const contactId = created.payload.contact.id
  t.same(created.payload.contact_inbox, { inbox: null, source_id: null }, 'no contact_inbox without an inbox_id')

  const first = await client.createContactInbox(contactId, { inbox_id: account.inboxId, source_id: 'later-source' })
  t.equal(first.source_id, 'later-source')
  t.equal(first.inbox.id, account.inboxId)
  t.equal(first.inbox.channel_type, 'Channel::Api')
  const again = await client.createContactInbox(contactId, { inbox_id: account.inboxId, source_id: 'later-source' })
  t.same(again, first, 'the same (contact, inbox, source_id) answers the same contact_inbox')

  const rows = await sim.query('SELECT contact_id::int, inbox_id::int, source_id FROM contact_inboxes')
  t.same(rows, [{ contact_id: contactId, inbox_id: account.inboxId, source_id: 'later-source' }])
})

test('createConversation answers the conversation by its display id, on the contact_inbox of the source_id', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const created = await client.createContact({ name: 'Carla', identifier: 'carla@s.whatsapp.net', inbox_id: account.inboxId })
  const contactId = created.payload.contact.id
  const sourceId = created.payload.contact_inbox.source_id!

  const conversation = await client.createConversation({
    inbox_id: account.inboxId, contact_id: contactId, source_id: sourceId, custom_attributes: { origin: 'test' }
  })
  t.equal(conversation.id, 1, 'the account\'s first display id')
  t.equal(conversation.account_id, account.accountId)
  t.equal(conversation.inbox_id, account.inboxId)
  t.equal(conversation.status, 'open')
  t.equal(conversation.meta.sender?.id, contactId)
  t.same(conversation.custom_attributes, { origin: 'test' })
  t.type(conversation.created_at, 'number', 'timestamps are unix integers')
  t.type(conversation.uuid, 'string')

  const rows = await sim.query(
    `SELECT c.display_id, c.contact_id::int, c.status, c.uuid::text, ci.source_id
       FROM conversations c JOIN contact_inboxes ci ON ci.id = c.contact_inbox_id`)
  t.same(rows, [{ display_id: conversation.id, contact_id: contactId, status: 0, uuid: conversation.uuid, source_id: sourceId }])
  const contactInboxes = await sim.query('SELECT count(*)::int AS count FROM contact_inboxes')
  t.same(contactInboxes, [{ count: 1 }], 'passing the source_id made no second contact_inbox')
})

test('getConversation, contactConversations and listConversations answer the stored conversation', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const first = await contactWithConversation(call, account.inboxId, 'first@s.whatsapp.net')
  const second = await contactWithConversation(call, account.inboxId, 'second@s.whatsapp.net')

  const shown = await client.getConversation(second.displayId)
  t.equal(shown.id, second.displayId)
  t.equal(shown.account_id, account.accountId)
  t.equal(shown.inbox_id, account.inboxId)
  t.equal(shown.status, 'open')
  t.equal(shown.meta.sender?.id, second.contactId)
  t.same(shown.messages, [], 'no message yet')
  const [row] = await sim.query('SELECT uuid::text FROM conversations WHERE account_id = $1 AND display_id = $2',
    [account.accountId, second.displayId])
  t.equal(shown.uuid, row.uuid)

  const ofContact = await client.contactConversations(first.contactId)
  t.same(ofContact.payload.map((conversation) => conversation.id), [first.displayId])

  const bySource = await client.listConversations({ status: 'open', inbox_id: account.inboxId, source_id: second.sourceId, page: 1 })
  t.same(Object.keys(bySource.data.meta).sort(), ['all_count', 'assigned_count', 'mine_count', 'unassigned_count'])
  t.same(bySource.data.payload.map((conversation) => conversation.id), [second.displayId])
  t.equal(bySource.data.meta.all_count, 1)

  const all = await client.listConversations({ status: 'all' })
  t.same(all.data.payload.map((conversation) => conversation.id).sort(), [first.displayId, second.displayId].sort())
  const resolved = await client.listConversations({ status: 'resolved', page: 1 })
  t.same(resolved.data.payload, [], 'no conversation is resolved')
  const otherInbox = await sim.createInbox(account.accountId, { name: 'Other' })
  const empty = await client.listConversations({ inbox_id: otherInbox })
  t.same(empty.data.payload, [], 'the inbox_id filter travels in the query')
})

test('toggleConversationStatus answers Chatwoot\'s toggle payload and stores the status', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'toggle@s.whatsapp.net')

  const resolved = await client.toggleConversationStatus(displayId, { status: 'resolved' })
  t.same(resolved, { meta: {}, payload: { success: true, conversation_id: displayId, current_status: 'resolved', snoozed_until: null } })
  t.same(await sim.query('SELECT status FROM conversations'), [{ status: 1 }])

  const pending = await client.toggleConversationStatus(displayId, { status: 'pending' })
  t.equal(pending.payload.current_status, 'pending')
  t.same(await sim.query('SELECT status FROM conversations'), [{ status: 2 }])

  const flipped = await client.toggleConversationStatus(displayId)
  t.equal(flipped.payload.current_status, 'open', 'without a status a non-open conversation flips to open')
  t.equal((await client.getConversation(displayId)).status, 'open')
})

test('createMessage posts JSON and answers the message with message_type as an integer and a stored source_id', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'message@s.whatsapp.net')

  const incoming = await client.createMessage(displayId, { content: 'hello', message_type: 'incoming' })
  t.equal(incoming.content, 'hello')
  t.equal(incoming.message_type, 0, 'incoming is 0')
  t.equal(incoming.conversation_id, displayId, 'the display id, not the internal id')
  t.equal(incoming.inbox_id, account.inboxId)
  t.equal(incoming.private, false)
  t.equal(incoming.status, 'sent')
  t.type(incoming.created_at, 'number')
  t.type(incoming.source_id, 'string', 'the client generated a source_id')
  t.not(incoming.source_id, '')

  const outgoing = await client.createMessage(displayId, {
    content: 'note', message_type: 'outgoing', private: true, source_id: 'wamid.given', content_attributes: { in_reply_to: incoming.id }
  })
  t.equal(outgoing.message_type, 1, 'outgoing is 1')
  t.equal(outgoing.source_id, 'wamid.given', 'a given source_id is sent as is')
  t.equal(outgoing.private, true)
  t.same(outgoing.content_attributes, { in_reply_to: incoming.id }, 'nested JSON reached Chatwoot as an object')

  const other = await client.createMessage(displayId, { content: 'second' })
  t.not(other.source_id, incoming.source_id, 'every message gets its own generated source_id')
  t.equal(other.message_type, 1, 'outgoing by default')

  const rows = await sim.query(
    `SELECT m.id, m.content, m.message_type, m.private, m.source_id, c.display_id
       FROM messages m JOIN conversations c ON c.id = m.conversation_id ORDER BY m.id`)
  t.same(rows, [
    { id: incoming.id, content: 'hello', message_type: 0, private: false, source_id: incoming.source_id, display_id: displayId },
    { id: outgoing.id, content: 'note', message_type: 1, private: true, source_id: 'wamid.given', display_id: displayId },
    { id: other.id, content: 'second', message_type: 1, private: false, source_id: other.source_id, display_id: displayId }
  ])
})

test('listMessages answers the messages ascending, and before/after page through them', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'list@s.whatsapp.net')
  const ids: number[] = []
  for (const content of ['one', 'two', 'three']) ids.push((await client.createMessage(displayId, { content, message_type: 'incoming' })).id)

  const all = await client.listMessages(displayId)
  t.type(all.meta, 'object')
  t.same(all.payload.map((message) => [message.id, message.content, message.message_type]),
    [[ids[0], 'one', 0], [ids[1], 'two', 0], [ids[2], 'three', 0]])
  t.ok(all.payload.every((message) => message.conversation_id === displayId))

  const before = await client.listMessages(displayId, { before: ids[2] })
  t.same(before.payload.map((message) => message.content), ['one', 'two'])
  const after = await client.listMessages(displayId, { after: ids[0] })
  t.same(after.payload.map((message) => message.content), ['two', 'three'])
})

test('listInboxes answers the account\'s inboxes', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const second = await sim.createInbox(account.accountId, { name: 'Second inbox' })
  const inboxes = await client.listInboxes()
  t.same(inboxes.payload.map((inbox) => [inbox.id, inbox.channel_type]), [[account.inboxId, 'Channel::Api'], [second, 'Channel::Api']])
  t.equal(inboxes.payload[1]?.name, 'Second inbox')
})

test('a url with a path keeps the path as a prefix of every request', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account, { url: `${sim.url}/prefix/`, retry: { maxRetries: 0 } })
  const error = await failure(client.getConversation(7))
  t.same(sim.requests.map((request) => request.path), [`/prefix${accountPath(account)}/conversations/7`])
  t.equal(error.code, 'FST_CHATWOOT_NOT_FOUND')
  t.equal(error.statusCode, 404)
  t.equal(error.path, `/prefix${accountPath(account)}/conversations/7`)
  t.same(error.body, { status: 404, error: 'Not Found' }, 'the route outside Chatwoot\'s API answers Rails\' 404')
})

test('FST_CHATWOOT_NOT_FOUND: an unknown conversation', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const error = await failure(client.getConversation(999999))
  t.type(error, ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_NOT_FOUND')
  t.equal(error.statusCode, 404)
  t.equal(error.method, 'GET')
  t.equal(error.path, `${accountPath(account)}/conversations/999999`)
  t.equal(error.operation, 'getConversation')
  t.same(error.body, NOT_FOUND)
  t.equal(error.retryable, false)
  t.equal(error.mayHaveLanded, false, 'a 404 is answered before anything is stored')
  t.equal(sim.requests.length, 1, 'a 404 is not retried')
})

test('FST_CHATWOOT_UNAUTHORIZED: an unknown token, and a bot token on an endpoint closed to bots', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const wrong = clientFor(t, sim, account, { token: 'not-a-real-token' })
  const error = await failure(wrong.getConversation(1))
  t.type(error, ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_UNAUTHORIZED')
  t.equal(error.statusCode, 401)
  t.equal(error.method, 'GET')
  t.equal(error.path, `${accountPath(account)}/conversations/1`)
  t.equal(error.operation, 'getConversation')
  t.same(error.body, { error: 'Invalid Access Token' })
  t.equal(error.retryable, false)
  t.equal(error.mayHaveLanded, false, 'a 401 is answered before anything is stored')

  const bot = clientFor(t, sim, account, { token: account.botToken })
  const refused = await failure(bot.listInboxes())
  t.type(refused, ChatwootError)
  t.equal(refused.code, 'FST_CHATWOOT_UNAUTHORIZED')
  t.equal(refused.statusCode, 401)
  t.equal(refused.method, 'GET')
  t.equal(refused.path, `${accountPath(account)}/inboxes`)
  t.equal(refused.operation, 'listInboxes')
  t.same(refused.body, { error: 'Access to this endpoint is not authorized for bots' })
  t.equal(refused.retryable, false)
  t.equal(sim.requests.length, 2, 'a 401 is not retried')
})

test('FST_CHATWOOT_VALIDATION: Chatwoot\'s model validation body and its message-create body', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const error = await failure(client.createContact({ name: 'Bad phone', phone_number: 'abc' }))
  t.type(error, ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_VALIDATION')
  t.equal(error.statusCode, 422)
  t.equal(error.method, 'POST')
  t.equal(error.path, `${accountPath(account)}/contacts`)
  t.equal(error.operation, 'createContact')
  t.same(error.body, { message: 'Phone number should be in e164 format', attributes: ['phone_number'] })
  t.equal(error.retryable, false)
  t.equal(error.mayHaveLanded, false, 'a 422 stores nothing')
  t.same(await sim.query('SELECT id FROM contacts'), [], 'nothing stored')

  const { displayId } = await contactWithConversation(call, account.inboxId, 'long@s.whatsapp.net')
  const tooLong = await failure(client.createMessage(displayId, { content: 'x'.repeat(150001), message_type: 'incoming' }))
  t.type(tooLong, ChatwootError)
  t.equal(tooLong.code, 'FST_CHATWOOT_VALIDATION')
  t.equal(tooLong.statusCode, 422)
  t.equal(tooLong.method, 'POST')
  t.equal(tooLong.path, `${accountPath(account)}/conversations/${displayId}/messages`)
  t.equal(tooLong.operation, 'createMessage')
  t.same(tooLong.body, { error: 'Validation failed: Content is too long (maximum is 150000 characters)' })
  t.equal(tooLong.retryable, false)
  t.same(await sim.query('SELECT id FROM messages'), [], 'no message stored')
})

test('FST_CHATWOOT_RATE_LIMITED: rack-attack\'s text body, retryable, and certainly not landed', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  sim.faults.add({ status: 429, times: Infinity })
  const error = await failure(client.searchContacts('secret query', { page: 2 }))
  t.type(error, ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_RATE_LIMITED')
  t.equal(error.statusCode, 429)
  t.equal(error.method, 'GET')
  t.equal(error.path, `${accountPath(account)}/contacts/search`, 'the path carries no query string')
  t.equal(error.operation, 'searchContacts')
  t.equal(error.body, 'Retry later\n', 'the text/plain body is kept as text')
  t.equal(error.retryable, true)
  t.equal(error.mayHaveLanded, false)
  t.equal(sim.requests.length, 4, 'the first attempt and three retries')
  t.ok(sim.requests.every((request) => request.status === 429 && request.fault === 'status'))
})

test('FST_CHATWOOT_SERVER: a 500 answer, retried and then thrown', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'server@s.whatsapp.net')
  sim.requests.length = 0
  sim.faults.add({ status: 500, times: Infinity })
  const error = await failure(client.getConversation(displayId))
  t.type(error, ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_SERVER')
  t.equal(error.statusCode, 500)
  t.equal(error.method, 'GET')
  t.equal(error.path, `${accountPath(account)}/conversations/${displayId}`)
  t.equal(error.operation, 'getConversation')
  t.same(error.body, { status: 500, error: 'Internal Server Error' })
  t.equal(error.retryable, true)
  t.equal(error.mayHaveLanded, true)
  t.equal(sim.requests.length, 4, 'a read is retried')
})

test('FST_CHATWOOT_TIMEOUT: no answer within the client\'s timeout', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account, { timeout: 100 })
  sim.faults.add({ delayMs: 400, times: Infinity })
  const error = await failure(client.listInboxes())
  t.type(error, ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_TIMEOUT')
  t.equal(error.statusCode, 504)
  t.equal(error.method, 'GET')
  t.equal(error.path, `${accountPath(account)}/inboxes`)
  t.equal(error.operation, 'listInboxes')
  t.equal(error.body, undefined, 'no answer, no body')
  t.equal(error.retryable, true)
  t.equal(error.mayHaveLanded, true)
  // Let the delayed requests finish before the simulator closes.
  sim.faults.clear()
  await new Promise((resolve) => setTimeout(resolve, 500))
})

test('FST_CHATWOOT_NETWORK: a connection reset after the request arrived may have landed', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'reset@s.whatsapp.net')
  sim.requests.length = 0
  sim.faults.add({ resetBeforeCommit: true, times: Infinity })
  const error = await failure(client.getConversation(displayId))
  t.type(error, ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_NETWORK')
  t.equal(error.statusCode, 503)
  t.equal(error.method, 'GET')
  t.equal(error.path, `${accountPath(account)}/conversations/${displayId}`)
  t.equal(error.operation, 'getConversation')
  t.equal(error.body, undefined)
  t.equal(error.retryable, true)
  t.equal(error.mayHaveLanded, true)
  t.ok(error.cause, 'the transport error is kept as the cause')
  t.equal(sim.requests.length, 4, 'a read is retried after a reset')
  t.ok(sim.requests.every((request) => request.fault === 'resetBeforeCommit'))
})

test('FST_CHATWOOT_NETWORK: a refused connection certainly did not land', async (t) => {
  const port = await closedPort()
  const client = new ChatwootClient({ url: `http://127.0.0.1:${port}`, accountId: 3, token: 'token-x', retry: { minDelayMs: 1, maxDelayMs: 5 } })
  t.teardown(() => client.close())
  const error = await failure(client.createContact({ name: 'Nobody' }))
  t.type(error, ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_NETWORK')
  t.equal(error.statusCode, 503)
  t.equal(error.method, 'POST')
  t.equal(error.path, '/api/v1/accounts/3/contacts')
  t.equal(error.operation, 'createContact')
  t.equal(error.body, undefined)
  t.equal(error.retryable, true)
  t.equal(error.mayHaveLanded, false)
  t.match(error.message, /ECONNREFUSED/)
})

test('FST_CHATWOOT_INPUT_INVALID: bad input is refused before anything is sent', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'input@s.whatsapp.net')
  sim.requests.length = 0

  const zero = await failure(client.getConversation(0))
  t.type(zero, ChatwootError)
  t.equal(zero.code, 'FST_CHATWOOT_INPUT_INVALID')
  t.equal(zero.statusCode, 400)
  t.equal(zero.method, 'GET')
  t.equal(zero.path, `${accountPath(account)}/conversations/0`)
  t.equal(zero.operation, 'getConversation')
  t.equal(zero.body, undefined)
  t.equal(zero.retryable, false)
  t.equal(zero.mayHaveLanded, false)

  const file = (index: number): Attachment => ({ filename: `f${index}.txt`, contentType: 'text/plain', data: Buffer.from(`file ${index}`) })
  const tooMany = await failure(client.createMessage(displayId, {
    content: 'files', attachments: Array.from({ length: 16 }, (_, index) => file(index))
  }))
  t.type(tooMany, ChatwootError)
  t.equal(tooMany.code, 'FST_CHATWOOT_INPUT_INVALID')
  t.equal(tooMany.statusCode, 400)
  t.equal(tooMany.method, 'POST')
  t.equal(tooMany.path, `${accountPath(account)}/conversations/${displayId}/messages`)
  t.equal(tooMany.operation, 'createMessage')
  t.equal(tooMany.retryable, false)
  t.equal(tooMany.mayHaveLanded, false)
  t.match(tooMany.message, /16/)

  const stream = Readable.from([Buffer.from('once')])
  const streamed = await failure(client.createMessage(displayId, {
    content: 'a stream', attachments: [{ filename: 'a.txt', contentType: 'text/plain', data: stream as unknown as Attachment['data'] }]
  }))
  t.type(streamed, ChatwootError)
  t.equal(streamed.code, 'FST_CHATWOOT_INPUT_INVALID')
  t.equal(streamed.operation, 'createMessage')
  t.equal(streamed.mayHaveLanded, false)
  t.match(streamed.message, /attachments\[0\]\.data/)

  t.same(sim.requests, [], 'no request reached Chatwoot')
  t.same(await sim.query('SELECT id FROM messages'), [], 'no message stored')
})

test('a 404 is NOT_FOUND by its status, whatever its body says', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'status@s.whatsapp.net')
  sim.faults.add({ status: 404, body: { error: 'whatever' } })
  const error = await failure(client.getConversation(displayId))
  t.equal(error.code, 'FST_CHATWOOT_NOT_FOUND')
  t.equal(error.statusCode, 404)
  t.same(error.body, { error: 'whatever' })
  t.equal(error.retryable, false)
})

test('a 500 with an HTML body is SERVER, with the body kept as text', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const client = clientFor(t, sim, account)
  const html = '<!DOCTYPE html><html><body><h1>We\'re sorry, but something went wrong.</h1></body></html>'
  sim.faults.add({ status: 500, body: html, contentType: 'text/html; charset=utf-8', times: Infinity })
  const error = await failure(client.listInboxes())
  t.equal(error.code, 'FST_CHATWOOT_SERVER')
  t.equal(error.statusCode, 500)
  t.equal(error.body, html)
  t.equal(error.retryable, true)
})

test('the token appears nowhere in an error: message, JSON, inspection or path', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'leak@s.whatsapp.net')
  const wrongToken = 'wrong-token-XYZ123456789'
  const errors: ChatwootError[] = []
  const fast = { retry: { maxRetries: 0 } }

  errors.push(await failure(clientFor(t, sim, account, { token: wrongToken, ...fast }).getConversation(displayId)))
  const client = clientFor(t, sim, account, fast)
  errors.push(await failure(client.getConversation(999)))
  errors.push(await failure(client.getConversation(0)))
  errors.push(await failure(clientFor(t, sim, account, { token: account.botToken, ...fast }).listInboxes()))
  sim.faults.add({ status: 500, body: 'boom', times: 1 })
  errors.push(await failure(client.searchContacts(account.token)))
  sim.faults.add({ resetBeforeCommit: true, times: 1 })
  errors.push(await failure(client.createMessage(displayId, { content: 'reset' })))
  const refused = new ChatwootClient({ url: `http://127.0.0.1:${await closedPort()}`, accountId: 1, token: wrongToken, ...fast })
  t.teardown(() => refused.close())
  errors.push(await failure(refused.listInboxes()))

  t.same(errors.map((error) => error.code), [
    'FST_CHATWOOT_UNAUTHORIZED', 'FST_CHATWOOT_NOT_FOUND', 'FST_CHATWOOT_INPUT_INVALID', 'FST_CHATWOOT_UNAUTHORIZED',
    'FST_CHATWOOT_SERVER', 'FST_CHATWOOT_NETWORK', 'FST_CHATWOOT_NETWORK'
  ])
  for (const error of errors) {
    for (const token of [account.token, account.botToken, wrongToken]) {
      t.notOk(error.message.includes(token), `${error.code}: not in the message`)
      t.notOk(JSON.stringify(error).includes(token), `${error.code}: not in its JSON`)
      t.notOk(inspect(error, { depth: Infinity, showHidden: true }).includes(token), `${error.code}: not in its inspection`)
      t.notOk(error.path.includes(token), `${error.code}: not in its path`)
    }
  }
})

test('a bad client option throws FST_CHATWOOT_OPTIONS_INVALID, naming the option but never the token', async (t) => {
  const good: ChatwootClientOptions = { url: 'http://127.0.0.1:3000', accountId: 1, token: 'secret-token-123' }
  const bad: Array<[string, Partial<ChatwootClientOptions>, RegExp]> = [
    ['a url that is not a url', { url: 'not a url' }, /url/],
    ['a url that is not http', { url: 'ftp://127.0.0.1/' }, /url/],
    ['accountId 0', { accountId: 0 }, /accountId/],
    ['a fractional accountId', { accountId: 1.5 }, /accountId/],
    ['an empty token', { token: '' }, /token/],
    ['a token with a newline', { token: 'secret-token-123\nx-injected: 1' }, /token/],
    ['timeoutMs 0', { timeoutMs: 0 }, /timeoutMs/],
    ['retry.maxRetries -1', { retry: { maxRetries: -1 } }, /maxRetries/]
  ]
  for (const [name, change, option] of bad) {
    let thrown: unknown
    try {
      const client = new ChatwootClient({ ...good, ...change })
      await client.close()
    } catch (error) {
      thrown = error
    }
    t.match(thrown, { code: 'FST_CHATWOOT_OPTIONS_INVALID' }, `${name} is refused`)
    t.match((thrown as Error | undefined)?.message, option, `${name}: the message names the option`)
    t.notOk(String((thrown as Error | undefined)?.message).includes('secret-token-123'), `${name}: the message leaves out the token`)
  }
  const fine = new ChatwootClient(good)
  t.equal(fine.accountId, 1, 'the same options without the fault are accepted')
  await fine.close()
})

test('close() closes only a dispatcher the client made: a shared pool stays usable', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const pool = new Pool(sim.url)
  t.teardown(() => pool.close())
  const shared = new ChatwootClient({ url: sim.url, accountId: account.accountId, token: account.token, dispatcher: pool })
  t.equal((await shared.listInboxes()).payload[0]?.id, account.inboxId)
  await shared.close()
  t.equal(pool.closed, false, 'the shared pool is still open')
  const again = new ChatwootClient({ url: sim.url, accountId: account.accountId, token: account.token, dispatcher: pool })
  t.equal((await again.listInboxes()).payload[0]?.id, account.inboxId, 'another client still calls through the pool')
  const raw = await pool.request({ method: 'GET', path: `${accountPath(account)}/inboxes`, headers: { api_access_token: account.token } })
  t.equal(raw.statusCode, 200, 'the pool itself still sends requests')
  await raw.body.text()

  const own = new ChatwootClient({ url: sim.url, accountId: account.accountId, token: account.token, retry: { maxRetries: 0 } })
  t.equal((await own.listInboxes()).payload.length, 1)
  await own.close()
  const before = sim.requests.length
  await t.rejects(own.listInboxes(), { name: 'ChatwootError' }, 'the client\'s own pool is closed')
  t.equal(sim.requests.length, before, 'nothing reached Chatwoot after close()')
})
