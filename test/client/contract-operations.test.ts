import { test } from 'tap'
import { ChatwootClient, ChatwootError } from '../../lib/client/index.js'
import { QUICK, withClient } from '../helpers/client.js'
import { chatwootApi, contactWithConversation, NOT_FOUND } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

// Issue 14 item 11, the client's side: delivery receipts (PATCH), the soft delete and the contact merge,
// against the simulator's Chatwoot-shaped answers.

usesServers('postgres')

const failure = (promise: Promise<unknown>): Promise<ChatwootError> => promise.then(
  (answer) => { throw new Error(`expected the call to fail, it answered ${JSON.stringify(answer)}`) },
  (error: unknown) => { if (error instanceof ChatwootError) return error; throw error })

test('updateMessageStatus: a receipt in an API inbox answers nothing (204) and is stored; failed keeps its external_error', async (t) => {
  const { sim, account, call, client } = await withClient(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'receipts')
  const message = await client.createMessage(displayId, { content: 'to be read', message_type: 'outgoing' })
  const statusOf = async () => (await sim.query<{ status: number, content_attributes: Record<string, unknown> }>(
    'SELECT status, content_attributes::jsonb FROM messages WHERE id = $1', [message.id]))[0]

  t.equal(await client.updateMessageStatus(displayId, message.id, { status: 'delivered' }), undefined)
  t.equal((await statusOf())?.status, 1, 'delivered')
  await client.updateMessageStatus(displayId, message.id, { status: 'read' })
  await client.updateMessageStatus(displayId, message.id, { status: 'delivered' })
  t.equal((await statusOf())?.status, 2, 'read -> delivered is ignored by Chatwoot, without an error')
  await client.updateMessageStatus(displayId, message.id, { status: 'failed', external_error: 'Message undeliverable (131026)' })
  t.match(await statusOf(), { status: 3, content_attributes: { external_error: 'Message undeliverable (131026)' } })
  t.same(sim.requests.filter((request) => request.method === 'PATCH').map(({ status }) => status), [204, 204, 204, 204])

  sim.requests.length = 0
  const typo = await failure(client.updateMessageStatus(displayId, message.id, { status: 'seen' as 'read' }))
  t.match(typo, { code: 'FST_CHATWOOT_INPUT_INVALID', message: /status must be one of \[sent, delivered, read, failed\], got "seen"/ })
  t.same(sim.requests, [], 'refused before sending: Chatwoot would ignore it in silence')
})

test('updateMessageStatus outside an API inbox: Chatwoot\'s 403 is FST_CHATWOOT_UNAUTHORIZED, not retried', async (t) => {
  const { sim } = await withClient(t)
  const account = await sim.createAccount({ channelType: 'Channel::Whatsapp' })
  const call = chatwootApi(sim, account)
  // A WhatsApp contact_inbox needs the phone: its source_id is the phone without "+".
  const contact = await call('POST', '/contacts', { body: { name: 'Phone', phone_number: '+15550001111', inbox_id: account.inboxId } })
  const conversation = await call('POST', '/conversations', {
    body: { contact_id: contact.body.payload.contact.id, inbox_id: account.inboxId, source_id: contact.body.payload.contact_inbox.source_id }
  })
  const displayId: number = conversation.body.id
  const created = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'agent reply' } })
  const client = new ChatwootClient({ url: sim.url, accountId: account.accountId, token: account.token, retry: QUICK })
  t.teardown(() => client.close())
  sim.requests.length = 0

  const error = await failure(client.updateMessageStatus(displayId, created.body.id, { status: 'read' }))
  t.match(error, { code: 'FST_CHATWOOT_UNAUTHORIZED', statusCode: 403, retryable: false, operation: 'updateMessageStatus' })
  t.match(error.message, /PATCH .*\/messages\/\d+\) answered 403: Message status update is only allowed for API inboxes/)
  t.equal(sim.requests.length, 1, 'one request')
})

test('deleteMessage: Chatwoot\'s soft delete, the row and its source_id kept; again is harmless; a missing one is 404', async (t) => {
  const { sim, account, call, client } = await withClient(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'deletes')
  const message = await client.createMessage(displayId, { content: 'oops', message_type: 'incoming', source_id: 'wamid.DEL' })
  const deleted = await client.deleteMessage(displayId, message.id)
  t.match(deleted, { id: message.id, content: 'This message was deleted', source_id: 'wamid.DEL', content_attributes: { deleted: true } })
  t.equal((await client.deleteMessage(displayId, message.id)).content, 'This message was deleted', 'idempotent')
  const rows = await sim.query('SELECT content, source_id FROM messages WHERE id = $1', [message.id])
  t.same(rows, [{ content: 'This message was deleted', source_id: 'wamid.DEL' }], 'the row stays: a lookup by source_id still finds it')
  t.same(await client.findMessage(displayId, 'wamid.DEL').then((found) => found?.id), message.id)
  const missing = await failure(client.deleteMessage(displayId, message.id + 1000))
  t.match(missing, { code: 'FST_CHATWOOT_NOT_FOUND', statusCode: 404, body: NOT_FOUND })
})

test('mergeContacts: the mergee\'s conversations move to the base, the mergee is gone; a merge is not sent again', async (t) => {
  const { sim, account, call, client } = await withClient(t)
  const base = await contactWithConversation(call, account.inboxId, 'base')
  const mergee = await contactWithConversation(call, account.inboxId, 'mergee')
  sim.requests.length = 0

  const merged = await client.mergeContacts(base.contactId, mergee.contactId)
  t.match(merged, { id: base.contactId, identifier: 'base' })
  t.same(sim.requests.map(({ method, path, status }) => `${method} ${path} ${status}`),
    [`POST /api/v1/accounts/${account.accountId}/actions/contact_merge 200`])
  const conversations = await client.contactConversations(base.contactId)
  t.same(conversations.payload.map((conversation) => conversation.id).sort(), [base.displayId, mergee.displayId].sort(), 'both now the base\'s')
  t.match(await failure(client.contactConversations(mergee.contactId)), { code: 'FST_CHATWOOT_NOT_FOUND' }, 'the mergee is gone')

  sim.requests.length = 0
  const other = await contactWithConversation(call, account.inboxId, 'other')
  sim.requests.length = 0
  sim.faults.add({ method: 'POST', path: /\/contact_merge$/, dropAfterCommit: true })
  const lost = await failure(client.mergeContacts(base.contactId, other.contactId))
  t.match(lost, { code: 'FST_CHATWOOT_NETWORK', mayHaveLanded: true }, 'a lost answer is said as such, not as the 404 a retry would meet')
  t.equal(sim.requests.length, 1, 'not sent again')
  t.same(await sim.query('SELECT id FROM contacts WHERE id = $1', [other.contactId]), [], 'it had landed')

  const input = await failure(client.mergeContacts(base.contactId, 0))
  t.match(input, { code: 'FST_CHATWOOT_INPUT_INVALID', message: /mergeeContactId must be a positive integer, got 0/ })
})
