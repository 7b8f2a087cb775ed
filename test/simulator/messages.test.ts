import { createHash, randomBytes } from 'node:crypto'
import { test } from 'tap'
// Node 20's global FormData comes from an older bundled undici that undici 7's request cannot send.
import { FormData } from 'undici'
import type { ChatwootSimulator } from '../../lib/testing/index.js'
import { chatwootApi, contactWithConversation, NOT_FOUND, simulatedAccount, startSimulator } from '../helpers/simulator.js'

async function messageCount (sim: ChatwootSimulator): Promise<number> {
  return (await sim.query('SELECT count(*)::int AS count FROM messages'))[0].count
}

async function internalId (sim: ChatwootSimulator, accountId: number, displayId: number): Promise<number> {
  return (await sim.query('SELECT id FROM conversations WHERE account_id = $1 AND display_id = $2', [accountId, displayId]))[0].id
}

/** An account whose conversation has display id 1 but a different internal id (another account's rows come first). */
async function divergingConversation (sim: ChatwootSimulator) {
  const other = await sim.createAccount()
  const otherCall = chatwootApi(sim, other)
  for (const name of ['other-1', 'other-2', 'other-3']) await contactWithConversation(otherCall, other.inboxId, name)
  const account = await sim.createAccount()
  const call = chatwootApi(sim, account)
  const conversation = await contactWithConversation(call, account.inboxId, 'diverging')
  return { account, call, ...conversation }
}

test('message_type is answered as an integer, and the answer shows the display id while the table holds the internal id', async (t) => {
  const sim = await startSimulator(t)
  const { account, call, displayId } = await divergingConversation(sim)
  const conversationId = await internalId(sim, account.accountId, displayId)
  t.equal(displayId, 1)
  t.not(conversationId, displayId, 'the ids diverge')

  const cases: Array<[string | undefined, number]> = [['incoming', 0], ['outgoing', 1], ['activity', 2], ['template', 3], [undefined, 1]]
  const answers = []
  for (const [messageType, expected] of cases) {
    const body: Record<string, unknown> = { content: `type ${messageType ?? 'absent'}` }
    if (messageType !== undefined) body.message_type = messageType
    const posted = await call('POST', `/conversations/${displayId}/messages`, { body })
    t.equal(posted.status, 200)
    t.equal(posted.body.message_type, expected, `${messageType ?? 'no message_type'} is ${expected}`)
    t.equal(posted.body.conversation_id, displayId, 'conversation_id is the display id')
    t.match(posted.body, { content: body.content, inbox_id: account.inboxId, status: 'sent', private: false, content_type: 'text' })
    t.ok(Number.isInteger(posted.body.created_at), 'created_at is a unix integer')
    answers.push(posted.body)
  }
  const rows = await sim.query('SELECT id, conversation_id, message_type FROM messages ORDER BY id')
  t.same(rows, answers.map((answer, index) => ({ id: answer.id, conversation_id: conversationId, message_type: cases[index]![1] })),
    'the table holds the internal conversation id and the integer types')
})

test('GET messages gives the latest 20 in ascending order, `before` pages backwards and `after` gives the newer ones', async (t) => {
  const sim = await startSimulator(t)
  const { call, displayId } = await divergingConversation(sim)
  const ids: number[] = []
  for (let index = 0; index < 25; index++) {
    const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: `m${index}`, message_type: 'incoming' } })
    t.equal(posted.status, 200)
    ids.push(posted.body.id)
  }
  const idsOf = (answer: { body: any }) => answer.body.payload.map((message: { id: number }) => message.id)

  const latest = await call('GET', `/conversations/${displayId}/messages`)
  t.equal(latest.status, 200)
  t.same(idsOf(latest), ids.slice(5), 'the last 20, oldest first')
  t.same(latest.body.payload.map((message: { content: string }) => message.content), ids.slice(5).map((_, index) => `m${index + 5}`))
  t.match(latest.body.payload[0], { conversation_id: displayId, message_type: 0 })
  t.type(latest.body.meta, 'object')

  t.same(idsOf(await call('GET', `/conversations/${displayId}/messages?before=${ids[5]}`)), ids.slice(0, 5),
    'before the first of the page gives the five older ones')
  t.same(idsOf(await call('GET', `/conversations/${displayId}/messages?before=${ids[24]}`)), ids.slice(4, 24),
    'before the newest gives the 20 before it')
  t.same(idsOf(await call('GET', `/conversations/${displayId}/messages?after=${ids[19]}`)), ids.slice(20),
    'after gives the newer ones, oldest first')
  t.same(idsOf(await call('GET', `/conversations/${displayId}/messages?after=${ids[24]}`)), [])

  const missing = await call('GET', `/conversations/${displayId + 1}/messages`)
  t.equal(missing.status, 404)
  t.same(missing.body, NOT_FOUND)
})

test('content of 150000 characters is accepted, 150001 is a 422 that stores nothing', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'long')

  const longest = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'a'.repeat(150000) } })
  t.equal(longest.status, 200)
  t.equal(longest.body.content.length, 150000)
  t.same(await sim.query('SELECT length(content) AS length FROM messages'), [{ length: 150000 }])

  const tooLong = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'a'.repeat(150001), message_type: 'incoming' } })
  t.equal(tooLong.status, 422)
  t.same(tooLong.body, { error: 'Validation failed: Content is too long (maximum is 150000 characters)' })
  t.equal(await messageCount(sim), 1, 'the refused message was not stored')

  // The limit counts characters, not UTF-16 units or bytes.
  const emoji = await call('POST', `/conversations/${displayId}/messages`, { body: { content: '😀'.repeat(150000) } })
  t.equal(emoji.status, 200, '150000 four-byte characters are accepted')
  const emojiTooLong = await call('POST', `/conversations/${displayId}/messages`, { body: { content: '😀'.repeat(150001) } })
  t.equal(emojiTooLong.status, 422)
  t.equal(await messageCount(sim), 2)
})

test('an incoming message into a non-API inbox is a 422, an outgoing one is stored', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const widget = await sim.createInbox(account.accountId, { channelType: 'Channel::WebWidget' })
  const { displayId } = await contactWithConversation(call, widget, 'widget-visitor')

  const incoming = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'hi', message_type: 'incoming' } })
  t.equal(incoming.status, 422)
  t.same(incoming.body, { error: 'Incoming messages are only allowed in Api inboxes' })
  t.equal(await messageCount(sim), 0, 'nothing stored')

  const outgoing = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'hello', message_type: 'outgoing' } })
  t.equal(outgoing.status, 200)
  t.match(outgoing.body, { content: 'hello', message_type: 1, inbox_id: widget, conversation_id: displayId })
  t.equal(await messageCount(sim), 1)

  // The same incoming message into the API inbox is accepted.
  const api = await contactWithConversation(call, account.inboxId, 'api-contact')
  t.equal((await call('POST', `/conversations/${api.displayId}/messages`, { body: { content: 'hi', message_type: 'incoming' } })).status, 200)
})

test('a conversation refuses messages past the per-minute limit with a 422, other conversations still accept', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { messagesPerMinute: 5 })
  const busy = await contactWithConversation(call, account.inboxId, 'busy')
  const quiet = await contactWithConversation(call, account.inboxId, 'quiet')

  for (let index = 1; index <= 5; index++) {
    const posted = await call('POST', `/conversations/${busy.displayId}/messages`, { body: { content: `m${index}`, message_type: 'incoming' } })
    t.equal(posted.status, 200, `message ${index} is accepted`)
  }
  const sixth = await call('POST', `/conversations/${busy.displayId}/messages`, { body: { content: 'm6', message_type: 'incoming' } })
  t.equal(sixth.status, 422, 'the 6th is a 422, not a 429')
  t.same(sixth.body, { error: 'Validation failed: Too many messages' })
  const busyId = await internalId(sim, account.accountId, busy.displayId)
  t.same((await sim.query('SELECT content FROM messages WHERE conversation_id = $1 ORDER BY id', [busyId])).map((row) => row.content),
    ['m1', 'm2', 'm3', 'm4', 'm5'])

  const other = await call('POST', `/conversations/${quiet.displayId}/messages`, { body: { content: 'elsewhere', message_type: 'incoming' } })
  t.equal(other.status, 200, 'another conversation still accepts')
})

test('10 concurrent messages to a conversation limited to 5 per minute store exactly 5', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { messagesPerMinute: 5 })
  const { displayId } = await contactWithConversation(call, account.inboxId, 'burst')

  const answers = await Promise.all(Array.from({ length: 10 }, (_, index) =>
    call('POST', `/conversations/${displayId}/messages`, { body: { content: `burst ${index}`, message_type: 'incoming' } })))
  const statuses = answers.map((answer) => answer.status)
  t.equal(statuses.filter((status) => status === 200).length, 5, 'five accepted')
  t.equal(statuses.filter((status) => status === 422).length, 5, 'five refused')
  for (const answer of answers.filter((each) => each.status === 422)) {
    t.same(answer.body, { error: 'Validation failed: Too many messages' })
  }
  t.equal(await messageCount(sim), 5, 'exactly five stored')
})

test('an incoming message reopens a resolved conversation, an outgoing one does not', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'reopen')
  const status = async () => (await call('GET', `/conversations/${displayId}`)).body.status

  t.equal((await call('POST', `/conversations/${displayId}/toggle_status`, { body: { status: 'resolved' } })).status, 200)
  t.equal(await status(), 'resolved')

  t.equal((await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'agent', message_type: 'outgoing' } })).status, 200)
  t.equal(await status(), 'resolved', 'an outgoing message leaves it resolved')

  t.equal((await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'contact', message_type: 'incoming' } })).status, 200)
  t.equal(await status(), 'open', 'an incoming message reopens it')
  t.same(await sim.query('SELECT status FROM conversations WHERE account_id = $1 AND display_id = $2', [account.accountId, displayId]),
    [{ status: 0 }])
})

test('source_id is stored as given and not deduplicated; echo_id is echoed but not stored', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'source')

  const first = await call('POST', `/conversations/${displayId}/messages`,
    { body: { content: 'one', message_type: 'incoming', source_id: 'wamid.SAME', echo_id: 'echo-7f3a' } })
  const second = await call('POST', `/conversations/${displayId}/messages`,
    { body: { content: 'two', message_type: 'incoming', source_id: 'wamid.SAME' } })
  t.equal(first.status, 200)
  t.equal(second.status, 200, 'the same source_id again is accepted')
  t.not(first.body.id, second.body.id)
  t.equal(first.body.source_id, 'wamid.SAME')
  t.equal(first.body.echo_id, 'echo-7f3a', 'echo_id is echoed')
  t.notOk('echo_id' in second.body, 'no echo_id when none was sent')
  t.same(await sim.query("SELECT content FROM messages WHERE source_id = 'wamid.SAME' ORDER BY id"), [{ content: 'one' }, { content: 'two' }])

  const stored = await sim.query('SELECT to_jsonb(m)::text AS row FROM messages m')
  t.notOk(stored.some((row) => row.row.includes('echo-7f3a')), 'echo_id is in no stored column')
  const listed = await call('GET', `/conversations/${displayId}/messages`)
  t.notOk(listed.body.payload.some((message: Record<string, unknown>) => 'echo_id' in message), 'the list shows no echo_id')
})

test('a multipart message stores its attachments with their digests and parses content_attributes', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'multipart')

  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2048)])
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(5000)])
  const form = new FormData()
  form.append('content', 'two files')
  form.append('message_type', 'incoming')
  form.append('content_attributes', JSON.stringify({ in_reply_to_external_id: 'wamid.X', nested: { n: 1 } }))
  form.append('attachments[]', new Blob([png], { type: 'image/png' }), 'photo.png')
  form.append('attachments[]', new Blob([pdf], { type: 'application/pdf' }), 'invoice.pdf')

  const posted = await call('POST', `/conversations/${displayId}/messages`, { form })
  t.equal(posted.status, 200)
  t.match(posted.body, { content: 'two files', message_type: 0, conversation_id: displayId })
  t.same(posted.body.content_attributes, { in_reply_to_external_id: 'wamid.X', nested: { n: 1 } }, 'the JSON string was parsed')
  t.equal(posted.body.attachments.length, 2)
  t.match(posted.body.attachments, [
    { file_type: 'image', file_size: png.length, message_id: posted.body.id },
    { file_type: 'file', file_size: pdf.length, message_id: posted.body.id }
  ])

  const [message] = await sim.query('SELECT id, content, message_type, content_attributes FROM messages')
  t.same(message, {
    id: posted.body.id, content: 'two files', message_type: 0, content_attributes: { in_reply_to_external_id: 'wamid.X', nested: { n: 1 } }
  })
  const attachments = await sim.query('SELECT message_id, file_type, meta FROM attachments ORDER BY id')
  const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
  t.match(attachments, [
    { message_id: message.id, file_type: 0, meta: { filename: 'photo.png', content_type: 'image/png', byte_size: png.length } },
    { message_id: message.id, file_type: 3, meta: { filename: 'invoice.pdf', content_type: 'application/pdf', byte_size: pdf.length } }
  ])
  t.equal(attachments[0]?.meta.sha256, sha256(png), 'the stored digest is that of the png sent')
  t.equal(attachments[1]?.meta.sha256, sha256(pdf), 'the stored digest is that of the pdf sent')

  const listed = await call('GET', `/conversations/${displayId}/messages`)
  t.match(listed.body.payload[0].attachments, [{ file_type: 'image' }, { file_type: 'file' }], 'the list shows the attachments too')
})

test('16 attachments are a 422 that stores neither the message nor its files', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'many-files')
  const formWith = (count: number) => {
    const form = new FormData()
    form.append('content', `${count} files`)
    for (let index = 0; index < count; index++) {
      form.append('attachments[]', new Blob([randomBytes(64)], { type: 'image/png' }), `f${index}.png`)
    }
    return form
  }

  const tooMany = await call('POST', `/conversations/${displayId}/messages`, { form: formWith(16) })
  t.equal(tooMany.status, 422)
  t.match(tooMany.body, { error: /^Validation failed: .*Attachments/ })
  t.equal(await messageCount(sim), 0)
  t.same(await sim.query('SELECT id FROM attachments'), [], 'no attachment stored')

  const fifteen = await call('POST', `/conversations/${displayId}/messages`, { form: formWith(15) })
  t.equal(fifteen.status, 200, '15 attachments are accepted')
  t.equal(fifteen.body.attachments.length, 15)
  t.equal((await sim.query('SELECT count(*)::int AS count FROM attachments'))[0].count, 15)
})

test('wrong parameter types do not crash the create', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'types')

  const bogus = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'x', message_type: 'bogus' } })
  t.equal(bogus.status, 422)
  t.same(bogus.body, { error: "'bogus' is not a valid message_type" })
  t.equal(await messageCount(sim), 0, 'a bad message_type stores nothing')

  const numeric = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 12345 } })
  t.equal(numeric.status, 200)
  t.equal(numeric.body.content, '12345')
  t.same(await sim.query('SELECT content FROM messages WHERE id = $1', [numeric.body.id]), [{ content: '12345' }])

  const privateNote = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'note', private: 'true' } })
  t.equal(privateNote.status, 200)
  t.equal(privateNote.body.private, true)
  const publicNote = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'public', private: 'false' } })
  t.equal(publicNote.body.private, false)
  t.same(await sim.query('SELECT private FROM messages WHERE id = ANY($1) ORDER BY id', [[privateNote.body.id, publicNote.body.id]]),
    [{ private: true }, { private: false }])
})

test('every refused message create leaves no row behind', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { messagesPerMinute: 3 })
  const { displayId } = await contactWithConversation(call, account.inboxId, 'failures')
  const widget = await sim.createInbox(account.accountId, { channelType: 'Channel::WebWidget' })
  const web = await contactWithConversation(call, widget, 'failures-web')
  const counts = async () => (await sim.query(
    'SELECT (SELECT count(*) FROM messages)::int AS messages, (SELECT count(*) FROM attachments)::int AS attachments'))[0]

  const failures: Array<[string, Parameters<typeof call>[2], number]> = [
    [`/conversations/${displayId}/messages`, { body: { content: 'x', message_type: 'bogus' } }, 422],
    [`/conversations/${displayId}/messages`, { body: { content: 'x', content_type: 'bogus' } }, 422],
    [`/conversations/${displayId}/messages`, { body: { content: 'a'.repeat(150001) } }, 422],
    [`/conversations/${web.displayId}/messages`, { body: { content: 'x', message_type: 'incoming' } }, 422],
    [`/conversations/${displayId + 100}/messages`, { body: { content: 'x' } }, 404]
  ]
  for (const [path, options, status] of failures) {
    const answer = await call('POST', path, options)
    t.equal(answer.status, status, `${path} ${JSON.stringify(options?.body).slice(0, 60)} answers ${status}`)
    t.same(await counts(), { messages: 0, attachments: 0 }, 'nothing stored')
  }

  for (let index = 0; index < 3; index++) {
    t.equal((await call('POST', `/conversations/${displayId}/messages`, { body: { content: `ok ${index}` } })).status, 200)
  }
  const form = new FormData()
  form.append('content', 'over the limit')
  form.append('attachments[]', new Blob([randomBytes(16)], { type: 'image/png' }), 'late.png')
  const limited = await call('POST', `/conversations/${displayId}/messages`, { form })
  t.equal(limited.status, 422)
  t.same(limited.body, { error: 'Validation failed: Too many messages' })
  t.same(await counts(), { messages: 3, attachments: 0 }, 'the refused message and its file were not stored')
})
