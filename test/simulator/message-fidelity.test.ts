import { randomBytes } from 'node:crypto'
import { test } from 'tap'
import { FormData } from 'undici'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'

// Issue 14, item 7: senders, the create answer's shape, content_attributes, file types, list order, toggle_status.

test('every message type but outgoing has the conversation contact as sender, in the answer, the list and the table', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { contactId, displayId } = await contactWithConversation(call, account.inboxId, 'sender-7')
  const contactSender = {
    additional_attributes: {},
    custom_attributes: {},
    email: null,
    id: contactId,
    identifier: 'sender-7',
    name: 'sender-7',
    phone_number: null,
    thumbnail: '',
    blocked: false,
    type: 'contact'
  }
  const answers = []
  for (const type of ['incoming', 'outgoing', 'activity', 'template']) {
    const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: type, message_type: type } })
    t.equal(posted.status, 200)
    answers.push(posted.body)
  }
  for (const index of [0, 2, 3]) t.same(answers[index].sender, contactSender, `${answers[index].content}: the contact`)
  t.match(answers[1].sender, { type: 'user', name: 'Simulator Admin' }, 'outgoing: the caller')

  const listed = (await call('GET', `/conversations/${displayId}/messages`)).body.payload
  t.same(listed.map((message: { sender: { type: string } }) => message.sender.type), ['contact', 'user', 'contact', 'contact'])
  t.same(listed[3].sender, contactSender)
  t.same(await sim.query('SELECT message_type, sender_type, sender_id::int FROM messages ORDER BY id'), [
    { message_type: 0, sender_type: 'Contact', sender_id: contactId },
    { message_type: 1, sender_type: 'User', sender_id: 1 },
    { message_type: 2, sender_type: 'Contact', sender_id: contactId },
    { message_type: 3, sender_type: 'Contact', sender_id: contactId }
  ])

  const bot = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'bot template', message_type: 'template' }, token: account.botToken })
  t.same(bot.body.sender, contactSender, "a bot's template message is the contact's too")
})

test('the create answer carries only the message partial fields', async (t) => {
  const { account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'partial')
  const posted = await call('POST', `/conversations/${displayId}/messages`,
    { body: { content: 'hi', message_type: 'incoming', source_id: 'wamid.P', echo_id: 'e-1', content_attributes: { a: 1 } } })
  t.equal(posted.status, 200)
  t.same(Object.keys(posted.body).sort(), ['content', 'content_attributes', 'content_type', 'conversation_id', 'created_at', 'echo_id',
    'id', 'inbox_id', 'message_type', 'private', 'sender', 'source_id', 'status'])
  t.match(posted.body, {
    content: 'hi',
    content_attributes: { a: 1 },
    content_type: 'text',
    conversation_id: displayId,
    echo_id: 'e-1',
    inbox_id: account.inboxId,
    message_type: 0,
    private: false,
    source_id: 'wamid.P',
    status: 'sent'
  })
  const listed = (await call('GET', `/conversations/${displayId}/messages`)).body.payload[0]
  t.ok('account_id' in listed && 'sender_type' in listed, 'the list still shows push_event_data')
})

test('content_attributes that is not a JSON object is stored as {}', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'attributes')
  for (const raw of ['{not json', '[1,2]', '"text"', '']) {
    const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'x', content_attributes: raw } })
    t.equal(posted.status, 200, `${JSON.stringify(raw)} is no error`)
    t.same(posted.body.content_attributes, {})
  }
  const parsed = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'x', content_attributes: '{"k":"v"}' } })
  t.same(parsed.body.content_attributes, { k: 'v' })
  t.same((await sim.query('SELECT content_attributes FROM messages ORDER BY id')).map((row) => row.content_attributes),
    [{}, {}, {}, {}, { k: 'v' }])
})

test("attachment file_type follows Chatwoot's fixed MIME lists", async (t) => {
  const { account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'files')
  const cases: Array<[string, string]> = [
    ['image/jpeg', 'image'], ['image/webp', 'image'], ['image/jpg', 'file'], ['image/svg+xml', 'file'], ['video/mp4', 'video'],
    ['video/quicktime', 'video'], ['video/3gpp', 'file'], ['audio/ogg', 'audio'], ['audio/x-custom', 'audio'], ['application/pdf', 'file']
  ]
  const form = new FormData()
  form.append('content', 'files')
  for (const [index, [type]] of cases.entries()) form.append('attachments[]', new Blob([randomBytes(8)], { type }), `f${index}`)
  const posted = await call('POST', `/conversations/${displayId}/messages`, { form })
  t.equal(posted.status, 200)
  t.same(posted.body.attachments.map((attachment: { file_type: string }) => attachment.file_type), cases.map(([, kind]) => kind))
})

test('the list is ordered by created_at and paged by id as MessageFinder does', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'order')
  const ids: number[] = []
  for (let index = 0; index < 30; index++) {
    ids.push((await call('POST', `/conversations/${displayId}/messages`, { body: { content: `m${index}` } })).body.id)
  }
  // created_at runs backwards from the ids: the newest id is the oldest message.
  await sim.query("UPDATE messages SET created_at = timestamp '2025-01-01' - id * interval '1 second'")
  const list = async (query = '') =>
    (await call('GET', `/conversations/${displayId}/messages${query}`)).body.payload.map((message: { id: number }) => message.id)
  const byCreatedAt = [...ids].reverse()

  t.same(await list(), byCreatedAt.slice(10), 'the 20 latest by created_at, oldest first')
  t.same(await list(`?before=${ids[25]}`), ids.slice(0, 20).reverse(), 'before: ids below, the 20 latest of them by created_at')
  t.same(await list(`?after=${ids[4]}`), ids.slice(5).reverse(), 'after: ids above, by created_at ascending')
  t.same(await list(`?after=${ids[4]}&before=${ids[8]}`), ids.slice(4, 8).reverse(), 'both: after <= id < before')
  t.same(await list('?before=x'), [], "'x'.to_i is 0: nothing is below it")
  t.same((await list('?after=x')).length, 30, 'and everything is above it')
  t.same(await list('?before='), byCreatedAt.slice(10), 'a blank bound is no bound')
})

test('toggle_status answers snoozed_until as an ISO time and success null for a bot handing over', async (t) => {
  const { account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'toggle')
  const snoozed = await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'snoozed', snoozed_until: 1893456000 } })
  t.same(snoozed.body, {
    meta: {}, payload: { success: true, conversation_id: displayId, current_status: 'snoozed', snoozed_until: '2030-01-01T00:00:00.000Z' }
  })
  t.equal((await call('GET', `/conversations/${displayId}`)).body.snoozed_until, 1893456000, 'the conversation view keeps a unix time')

  t.equal((await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'pending' } })).status, 200)
  const handoff = await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'open' }, token: account.botToken })
  t.same(handoff.body, { meta: {}, payload: { success: null, conversation_id: displayId, current_status: 'open', snoozed_until: null } })
  const agent = await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'open' } })
  t.equal(agent.body.payload.success, true, 'an agent opening it is a plain success')
})
