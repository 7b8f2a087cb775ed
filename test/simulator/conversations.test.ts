import { test } from 'tap'
import { chatwootApi, contactWithConversation, NOT_FOUND, simulatedAccount, startSimulator } from '../helpers/simulator.js'

type Call = ReturnType<typeof chatwootApi>

/** A contact with a contact_inbox in the inbox, and no conversation yet. */
async function newContact (call: Call, inboxId: number, identifier: string) {
  const created = await call('POST', '/contacts', { body: { name: identifier, identifier, inbox_id: inboxId } })
  if (created.status !== 200) throw new Error(`contact create answered ${created.status}: ${created.text}`)
  return { contactId: created.body.payload.contact.id as number, sourceId: created.body.payload.contact_inbox.source_id as string }
}

/** Every display id a conversation list shows for a query, over all its pages. */
async function listedIds (call: Call, query: string): Promise<number[]> {
  const ids: number[] = []
  for (let page = 1; page < 10; page++) {
    const answer = await call('GET', `/conversations?${query}${query === '' ? '' : '&'}page=${page}`)
    if (answer.status !== 200) throw new Error(`list answered ${answer.status}: ${answer.text}`)
    const payload: Array<{ id: number }> = answer.body.data.payload
    if (payload.length === 0) break
    ids.push(...payload.map((conversation) => conversation.id))
  }
  return ids.sort((a, b) => a - b)
}

test('each account numbers its conversations from 1, apart from the internal ids', async (t) => {
  const sim = await startSimulator(t)
  const first = await sim.createAccount()
  const second = await sim.createAccount()
  const callFirst = chatwootApi(sim, first)
  const callSecond = chatwootApi(sim, second)

  const firstIds = [
    (await contactWithConversation(callFirst, first.inboxId, 'a1')).displayId,
    (await contactWithConversation(callFirst, first.inboxId, 'a2')).displayId,
    (await contactWithConversation(callFirst, first.inboxId, 'a3')).displayId
  ]
  const secondContacts = [
    await contactWithConversation(callSecond, second.inboxId, 'b1'),
    await contactWithConversation(callSecond, second.inboxId, 'b2')
  ]
  t.same(firstIds, [1, 2, 3], 'the first account counts 1, 2, 3')
  t.same(secondContacts.map((contact) => contact.displayId), [1, 2], 'the second account starts again at 1')

  const rows = await sim.query('SELECT id, account_id, display_id FROM conversations ORDER BY id')
  t.same(rows.map((row) => [row.account_id, row.display_id]),
    [[first.accountId, 1], [first.accountId, 2], [first.accountId, 3], [second.accountId, 1], [second.accountId, 2]])
  const secondRows = rows.filter((row) => row.account_id === second.accountId)
  t.ok(secondRows.every((row) => row.id !== row.display_id), 'the second account\'s internal ids differ from its display ids')

  // The same display id names a different conversation in each account.
  const shownSecond = await callSecond('GET', '/conversations/1')
  t.equal(shownSecond.status, 200)
  t.equal(shownSecond.body.id, 1)
  t.equal(shownSecond.body.account_id, second.accountId)
  t.equal(shownSecond.body.meta.sender.id, secondContacts[0]!.contactId)
  t.equal((await callSecond('GET', '/conversations/3')).status, 404, 'display id 3 exists only in the first account')
})

test('the insert trigger assigns the next display id of the account when a row is inserted without one', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const other = await sim.createAccount()
  const call = chatwootApi(sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'trigger-1')
  t.equal(displayId, 1)

  const [inserted] = await sim.query('INSERT INTO conversations (account_id, inbox_id) VALUES ($1, $2) RETURNING id, display_id',
    [account.accountId, account.inboxId])
  t.equal(inserted.display_id, 2, 'the direct insert got the next number')
  const [otherRow] = await sim.query('INSERT INTO conversations (account_id, inbox_id) VALUES ($1, $2) RETURNING id, display_id',
    [other.accountId, other.inboxId])
  t.equal(otherRow.display_id, 1, 'the other account\'s counter is its own')
  t.not(otherRow.id, otherRow.display_id)

  const next = await contactWithConversation(call, account.inboxId, 'trigger-2')
  t.equal(next.displayId, 3, 'the API continues after the directly inserted row')
})

test('100 concurrent conversation creates in one account get the distinct display ids 1..100', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const contacts = await Promise.all(Array.from({ length: 100 }, (_, index) => newContact(call, account.inboxId, `concurrent-${index}`)))

  const answers = await Promise.all(contacts.map((contact) => call('POST', '/conversations', {
    body: { contact_id: contact.contactId, inbox_id: account.inboxId, source_id: contact.sourceId }
  })))
  t.same(answers.map((answer) => answer.status), Array(100).fill(200), 'every create answered 200')
  const ids = answers.map((answer) => answer.body.id as number).sort((a, b) => a - b)
  t.same(ids, Array.from({ length: 100 }, (_, index) => index + 1))

  const rows = await sim.query('SELECT display_id, contact_id FROM conversations WHERE account_id = $1 ORDER BY display_id',
    [account.accountId])
  t.same(rows.map((row) => row.display_id), ids, 'the table holds the same display ids')
  t.equal(new Set(rows.map((row) => String(row.contact_id))).size, 100, 'one conversation per contact')
})

test('GET /conversations/{display_id} shows the conversation with its contact and last message', async (t) => {
  const sim = await startSimulator(t)
  const other = await sim.createAccount()
  await contactWithConversation(chatwootApi(sim, other), other.inboxId, 'other-account')
  const account = await sim.createAccount()
  const call = chatwootApi(sim, account)
  const { contactId, displayId } = await contactWithConversation(call, account.inboxId, 'shape@s.whatsapp.net')
  await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'first', message_type: 'incoming' } })
  const last = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'second', message_type: 'incoming' } })
  t.equal(last.status, 200)

  const before = Math.floor(Date.now() / 1000)
  const shown = await call('GET', `/conversations/${displayId}`)
  t.equal(shown.status, 200)
  const [row] = await sim.query('SELECT id, uuid FROM conversations WHERE account_id = $1 AND display_id = $2',
    [account.accountId, displayId])
  t.not(row.id, displayId, 'the internal id differs from the display id')
  t.match(shown.body, {
    id: displayId,
    account_id: account.accountId,
    uuid: row.uuid,
    inbox_id: account.inboxId,
    status: 'open',
    meta: { sender: { id: contactId, identifier: 'shape@s.whatsapp.net', type: 'contact' } },
    labels: [],
    unread_count: Number,
    additional_attributes: {},
    custom_attributes: {}
  })
  t.equal(shown.body.messages.length, 1, 'messages holds only the last message')
  t.match(shown.body.messages[0], { id: last.body.id, content: 'second', conversation_id: displayId, message_type: 0 })
  for (const field of ['created_at', 'timestamp', 'last_activity_at']) {
    const value = shown.body[field]
    t.ok(Number.isInteger(value), `${field} is an integer`)
    t.ok(Math.abs(value - before) < 120, `${field} is a unix time in seconds (${value})`)
  }
})

test('GET /conversations/{id} of an unknown conversation is a 404', async (t) => {
  const { account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'known')
  const missing = await call('GET', `/conversations/${displayId + 1}`)
  t.equal(missing.status, 404)
  t.same(missing.body, NOT_FOUND)
  t.equal((await call('GET', `/conversations/${displayId}`)).status, 200, 'the known one is found')
})

test('the conversation list pages by 25, filters by status, inbox and source_id, and counts', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const conversations = await Promise.all(Array.from({ length: 30 }, (_, index) =>
    contactWithConversation(call, account.inboxId, `list-${index}`)))
  const allIds = conversations.map((conversation) => conversation.displayId).sort((a, b) => a - b)

  const page1 = await call('GET', '/conversations')
  t.equal(page1.status, 200)
  t.same(Object.keys(page1.body), ['data'])
  t.same(page1.body.data.meta, { mine_count: 0, assigned_count: 0, unassigned_count: 30, all_count: 30 })
  t.equal(page1.body.data.payload.length, 25, 'page 1 has 25')
  const page2 = await call('GET', '/conversations?page=2')
  t.equal(page2.body.data.payload.length, 5, 'page 2 has the other 5')
  const paged = [...page1.body.data.payload, ...page2.body.data.payload].map((conversation: { id: number }) => conversation.id)
  t.same(paged.sort((a: number, b: number) => a - b), allIds, 'the two pages hold every conversation once')
  t.match(page1.body.data.payload[0], { id: Number, account_id: account.accountId, status: 'open', meta: { sender: { type: 'contact' } } })

  // Resolve three: the default list shows open ones only.
  const resolved = allIds.slice(0, 3)
  for (const displayId of resolved) {
    t.equal((await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'resolved' } })).status, 200)
  }
  const openIds = allIds.slice(3)
  t.same(await listedIds(call, ''), openIds, 'without status only open conversations are listed')
  t.equal((await call('GET', '/conversations')).body.data.meta.all_count, 27)
  t.same(await listedIds(call, 'status=open'), openIds)
  t.same(await listedIds(call, 'status=resolved'), resolved)
  t.same(await listedIds(call, 'status=all'), allIds, 'status=all lists every conversation')
  t.equal((await call('GET', '/conversations?status=all')).body.data.meta.all_count, 30)

  // inbox_id
  const secondInbox = await sim.createInbox(account.accountId, { name: 'second' })
  const inSecond = [
    await contactWithConversation(call, secondInbox, 'inbox-2-a'),
    await contactWithConversation(call, secondInbox, 'inbox-2-b')
  ]
  t.same(await listedIds(call, `inbox_id=${secondInbox}`), inSecond.map((conversation) => conversation.displayId))
  t.same(await listedIds(call, `inbox_id=${account.inboxId}`), openIds)
  const inboxAnswer = await call('GET', `/conversations?inbox_id=${secondInbox}`)
  t.same(inboxAnswer.body.data.meta, { mine_count: 0, assigned_count: 0, unassigned_count: 2, all_count: 2 })
  t.ok(inboxAnswer.body.data.payload.every((conversation: { inbox_id: number }) => conversation.inbox_id === secondInbox))

  // source_id, combined with the status filter
  const target = conversations.find((conversation) => !resolved.includes(conversation.displayId))!
  const bySource = await call('GET', `/conversations?source_id=${encodeURIComponent(target.sourceId)}`)
  t.equal(bySource.status, 200)
  t.same(bySource.body.data.payload.map((conversation: { id: number }) => conversation.id), [target.displayId])
  t.equal(bySource.body.data.meta.all_count, 1)
  const resolvedTarget = conversations.find((conversation) => conversation.displayId === resolved[0])!
  const source = encodeURIComponent(resolvedTarget.sourceId)
  t.same((await call('GET', `/conversations?source_id=${source}`)).body.data.payload, [], 'a resolved one is not in the default list')
  t.same((await call('GET', `/conversations?source_id=${source}&status=all`)).body.data.payload
    .map((conversation: { id: number }) => conversation.id), [resolvedTarget.displayId])
  t.same((await call('GET', '/conversations?source_id=no-such-source')).body.data.payload, [])
})

test('toggle_status flips open and resolved, sets a given status, and answers 500 on a bad one', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  await contactWithConversation(call, account.inboxId, 'toggle-0')
  const { displayId } = await contactWithConversation(call, account.inboxId, 'toggle-1')
  const storedStatus = async () => (await sim.query('SELECT status FROM conversations WHERE account_id = $1 AND display_id = $2',
    [account.accountId, displayId]))[0].status

  const resolved = await call('POST', `/conversations/${displayId}/toggle_status`)
  t.equal(resolved.status, 200)
  t.same(resolved.body, { meta: {}, payload: { success: true, conversation_id: displayId, current_status: 'resolved', snoozed_until: null } })
  t.equal(await storedStatus(), 1)
  t.equal((await call('GET', `/conversations/${displayId}`)).body.status, 'resolved')

  const reopened = await call('POST', `/conversations/${displayId}/toggle_status`, { body: {} })
  t.equal(reopened.status, 200)
  t.equal(reopened.body.payload.current_status, 'open', 'a second toggle reopens it')
  t.equal(await storedStatus(), 0)

  const pending = await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'pending' } })
  t.equal(pending.status, 200)
  t.same(pending.body, { meta: {}, payload: { success: true, conversation_id: displayId, current_status: 'pending', snoozed_until: null } })
  t.equal(await storedStatus(), 2)

  const bad = await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'closed' } })
  t.equal(bad.status, 500)
  t.same(bad.body, { status: 500, error: 'Internal Server Error' })
  t.equal(await storedStatus(), 2, 'a bad status changes nothing')

  const missing = await call('POST', `/conversations/${displayId + 1}/toggle_status`)
  t.equal(missing.status, 404)
  t.same(missing.body, NOT_FOUND)
})

test('an inbox locked to a single conversation gives back the same conversation for the same contact', async (t) => {
  const sim = await startSimulator(t)
  const locked = await sim.createAccount({ lockToSingleConversation: true })
  const call = chatwootApi(sim, locked)
  const { contactId, sourceId, displayId } = await contactWithConversation(call, locked.inboxId, 'locked')
  const again = await call('POST', '/conversations', { body: { contact_id: contactId, inbox_id: locked.inboxId, source_id: sourceId } })
  t.equal(again.status, 200)
  t.equal(again.body.id, displayId, 'the same conversation')
  const rows = await sim.query('SELECT count(*)::int AS count FROM conversations WHERE account_id = $1', [locked.accountId])
  t.equal(rows[0].count, 1, 'no second conversation was stored')

  // Without the lock the same request opens a new conversation.
  const open = await sim.createAccount()
  const openCall = chatwootApi(sim, open)
  const first = await contactWithConversation(openCall, open.inboxId, 'unlocked')
  const second = await openCall('POST', '/conversations', {
    body: { contact_id: first.contactId, inbox_id: open.inboxId, source_id: first.sourceId }
  })
  t.equal(second.status, 200)
  t.not(second.body.id, first.displayId, 'an unlocked inbox makes a new conversation')
})

test('DELETE /conversations/{id} by an administrator removes the conversation and its messages (no delay)', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { conversationDeleteDelayMs: 0 })
  const kept = await contactWithConversation(call, account.inboxId, 'kept')
  const { displayId } = await contactWithConversation(call, account.inboxId, 'deleted')
  for (const content of ['one', 'two']) {
    t.equal((await call('POST', `/conversations/${displayId}/messages`, { body: { content } })).status, 200)
  }
  t.equal((await call('POST', `/conversations/${kept.displayId}/messages`, { body: { content: 'stays' } })).status, 200)
  const [row] = await sim.query('SELECT id FROM conversations WHERE account_id = $1 AND display_id = $2', [account.accountId, displayId])
  const messagesOf = async (conversationId: number) =>
    (await sim.query('SELECT count(*)::int AS count FROM messages WHERE conversation_id = $1', [conversationId]))[0].count
  t.equal(await messagesOf(row.id), 2)

  const deleted = await call('DELETE', `/conversations/${displayId}`)
  t.equal(deleted.status, 200)
  t.same(await sim.query('SELECT id FROM conversations WHERE id = $1', [row.id]), [], 'the conversation row is gone')
  t.equal(await messagesOf(row.id), 0, 'its messages are gone')
  const [keptRow] = await sim.query('SELECT id FROM conversations WHERE account_id = $1 AND display_id = $2',
    [account.accountId, kept.displayId])
  t.equal(await messagesOf(keptRow.id), 1, 'another conversation keeps its messages')

  const gone = await call('GET', `/conversations/${displayId}`)
  t.equal(gone.status, 404)
  t.same(gone.body, NOT_FOUND)
})

test('a conversation deleted with sim.deleteConversation answers 404 to a new message', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'to-delete')
  t.equal((await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'before' } })).status, 200)

  t.equal(await sim.deleteConversation(account.accountId, displayId), true)
  t.equal(await sim.deleteConversation(account.accountId, displayId), false, 'a second delete finds nothing')
  const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'after', message_type: 'incoming' } })
  t.equal(posted.status, 404)
  t.same(posted.body, NOT_FOUND)
  t.same(await sim.query('SELECT content FROM messages'), [], 'nothing was stored, and the earlier message is gone')
})
