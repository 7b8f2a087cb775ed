import { test } from 'tap'
import { type Attachment, ChatwootClient, ChatwootError, type MessageType } from '../../lib/client/index.js'
import { fromStatus } from '../../lib/client/classify.js'
import { QUICK, withClient } from '../helpers/client.js'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'

/** The rejection of a call that must fail; a call that succeeds fails the test. */
const failure = (promise: Promise<unknown>): Promise<ChatwootError> => promise.then(
  (answer) => { throw new Error(`expected the call to fail, it answered ${JSON.stringify(answer)}`) },
  (error: unknown) => { if (error instanceof ChatwootError) return error; throw error })

// Each value holds this marker, so a test can see that no message echoes what it refused.
const NUL = 'secretish\u0000'
const file: Attachment = { filename: 'a.txt', contentType: 'text/plain', data: Buffer.from('a') }

// [operation, the call, the path the message must name]
const CALLS: Array<[string, (client: ChatwootClient) => Promise<unknown>, string]> = [
  ['searchContacts', (client) => client.searchContacts(NUL), 'q'],
  ['filterContacts', (client) => client.filterContacts([{ attribute_key: 'identifier', filter_operator: 'equal_to', values: ['ok', NUL] }]),
    'filters[0].values[1]'],
  ['createContact', (client) => client.createContact({ identifier: 'ana', name: NUL }), 'input.name'],
  ['createContact', (client) => client.createContact({ identifier: NUL }), 'input.identifier'],
  ['createContact', (client) => client.createContact({ identifier: 'ana', custom_attributes: { deep: [{ x: NUL }] } }),
    'input.custom_attributes.deep[0].x'],
  ['createContact', (client) => client.createContact({ identifier: 'ana', additional_attributes: { [NUL]: 1 } }),
    'a key of input.additional_attributes'],
  ['createContactInbox', (client) => client.createContactInbox(1, { inbox_id: 1, source_id: NUL }), 'sourceId'],
  ['createConversation', (client) => client.createConversation({ inbox_id: 1, contact_id: 1, source_id: NUL }), 'input.source_id'],
  ['createConversation', (client) => client.createConversation({ inbox_id: 1, contact_id: 1, message: { content: NUL } }),
    'input.message.content'],
  ['listConversations', (client) => client.listConversations({ source_id: NUL }), 'query.source_id'],
  ['toggleConversationStatus', (client) => client.toggleConversationStatus(1, { status: NUL as 'open' }), 'status'],
  ['createMessage', (client) => client.createMessage(1, { content: NUL }), 'message.content'],
  ['createMessage', (client) => client.createMessage(1, { content: 'hi', source_id: NUL }), 'message.source_id'],
  ['createMessage', (client) => client.createMessage(1, { content: 'hi', message_type: NUL as MessageType }), 'message.message_type'],
  ['createMessage', (client) => client.createMessage(1, { content_attributes: { items: [NUL] } }), 'message.content_attributes.items[0]'],
  ['createMessage', (client) => client.createMessage(1, { content: 'hi', attachments: [{ ...file, filename: NUL }] }),
    'message.attachments[0].filename'],
  ['createMessage', (client) => client.createMessage(1, { content: 'hi', attachments: [{ ...file, contentType: NUL }] }),
    'message.attachments[0].contentType']
]

test('a NUL byte in any string field of any operation is refused before any request is sent', async (t) => {
  const { sim, client } = await withClient(t)
  for (const [operation, call, path] of CALLS) {
    const error = await failure(call(client))
    t.match(error, { code: 'FST_CHATWOOT_INPUT_INVALID', statusCode: 400, retryable: false, mayHaveLanded: false, operation },
      `${operation}: ${path}`)
    t.ok(error.message.includes(`: ${path} holds a NUL byte`), `the message names ${path}: ${error.message}`)
    t.notOk(error.message.includes('secretish'), 'the refused value is not echoed')
  }
  t.same(sim.requests, [], 'not one request reached the server')

  // The counting works: a clean call of the same kind does reach it.
  await client.searchContacts('secretish')
  t.same(sim.requests.map(({ method, path, status }) => `${method} ${path.replace(/^.*\/accounts\/\d+/, '')} ${status}`), ['GET /contacts/search 200'])
})

test('NUL bytes inside attachment data are data, not text: the message is sent', async (t) => {
  const { sim, account, call, client } = await withClient(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'bytes')
  sim.requests.length = 0
  const posted = await client.createMessage(displayId, {
    content: 'a file', attachments: [{ filename: 'zeros.bin', contentType: 'application/octet-stream', data: Buffer.alloc(16) }]
  })
  t.equal(posted.conversation_id, displayId)
  t.equal(sim.requests.length, 1, 'one request')
})

test('a numeric source_id is refused before sending: the duplicate check compares it as text and would never find it', async (t) => {
  const { sim, client } = await withClient(t)
  for (const sourceId of [1234, '', null]) {
    const error = await failure(client.createMessage(1, { content: 'hi', source_id: sourceId as string }))
    t.equal(error.code, 'FST_CHATWOOT_INPUT_INVALID', `source_id ${JSON.stringify(sourceId)}`)
    t.match(error.message, /message\.source_id must be a non-empty string/)
  }
  t.match((await failure(client.createMessage(1, { source_id: 5 as unknown as string }))).message, /a number: pass it as a string/)
  t.same(sim.requests, [], 'nothing was sent')
})

test('Chatwoot\'s per-conversation limit: FST_CHATWOOT_TOO_MANY_MESSAGES, not retried, not stored, no lookup', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { messagesPerMinute: 2 })
  const client = new ChatwootClient({ url: sim.url, accountId: account.accountId, token: account.token, retry: QUICK })
  t.teardown(() => client.close())
  const { displayId } = await contactWithConversation(call, account.inboxId, 'busy')
  await client.createMessage(displayId, { content: 'one', message_type: 'incoming' })
  await client.createMessage(displayId, { content: 'two', message_type: 'incoming' })
  sim.requests.length = 0

  const error = await failure(client.createMessage(displayId, { content: 'three', message_type: 'incoming' }))
  t.match(error, { code: 'FST_CHATWOOT_TOO_MANY_MESSAGES', statusCode: 422, retryable: false, mayHaveLanded: false, operation: 'createMessage' })
  t.match(error.message, /answered 422: Validation failed: Too many messages/)
  t.same(sim.requests.map(({ method, status }) => `${method} ${status}`), ['POST 422'], 'one attempt, and no lookup for it (it did not land)')
  const stored = await sim.query('SELECT content FROM messages WHERE content IN ($1, $2, $3) ORDER BY id', ['one', 'two', 'three'])
  t.same(stored.map((row) => row.content), ['one', 'two'], 'the refused message was not stored')
})

test('classification of a 422: only Chatwoot\'s exact "Too many messages" gets its own code', async (t) => {
  const call = { operation: 'createMessage', method: 'POST', path: '/api/v1/accounts/1/conversations/1/messages' }
  const cases: Array<[number, unknown, string, boolean]> = [
    [422, { error: 'Validation failed: Too many messages' }, 'FST_CHATWOOT_TOO_MANY_MESSAGES', false],
    // Waiting cannot cure a message that also failed another validation.
    [422, { error: 'Validation failed: Content is too long (maximum is 150000 characters), Too many messages' }, 'FST_CHATWOOT_VALIDATION', false],
    [422, { error: 'Validation failed: Too many messages in the inbox' }, 'FST_CHATWOOT_VALIDATION', false],
    [422, { message: 'Email has already been taken', attributes: ['email'] }, 'FST_CHATWOOT_VALIDATION', false],
    [422, 'Validation failed: Too many messages', 'FST_CHATWOOT_TOO_MANY_MESSAGES', false],
    [400, { error: 'Validation failed: Too many messages' }, 'FST_CHATWOOT_BAD_REQUEST', false],
    [429, 'Retry later\n', 'FST_CHATWOOT_RATE_LIMITED', true]
  ]
  for (const [status, body, code, retryable] of cases) {
    const error = fromStatus(call, status, body)
    t.match(error, { code, statusCode: status, retryable, mayHaveLanded: false }, `${status} ${JSON.stringify(body)}`)
  }
})
