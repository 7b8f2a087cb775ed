import { test } from 'tap'
import { simulatedAccount } from '../helpers/simulator.js'

// Issue 14, item 6: POST /conversations with a `message`.

test('a conversation create whose message fails validation is a 422 {message, attributes}; the contact_inbox survives', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { messagesPerMinute: 1 })
  const contact = (await call('POST', '/contacts', { body: { name: 'first words', identifier: 'first-words' } })).body.payload.contact
  const counts = async () => (await sim.query(`SELECT (SELECT count(*) FROM contact_inboxes)::int AS contact_inboxes,
    (SELECT count(*) FROM conversations)::int AS conversations, (SELECT count(*) FROM messages)::int AS messages`))[0]
  const create = (message: unknown, sourceId?: string) =>
    call('POST', '/conversations', { body: { contact_id: contact.id, inbox_id: account.inboxId, source_id: sourceId, message } })

  const tooLong = await create({ content: 'a'.repeat(150001) }, 'src-1')
  t.equal(tooLong.status, 422)
  t.same(tooLong.body, { message: 'Content is too long (maximum is 150000 characters)', attributes: ['content'] })
  t.same(await counts(), { contact_inboxes: 1, conversations: 0, messages: 0 }, 'the contact_inbox stays, nothing else')
  t.same(await sim.query('SELECT source_id FROM contact_inboxes'), [{ source_id: 'src-1' }])

  const bogus = await create({ content: 'x', message_type: 'bogus' }, 'src-1')
  t.equal(bogus.status, 500, 'a bad enum is no validation failure')
  t.same(bogus.body, { status: 500, error: 'Internal Server Error' })
  const badStatus = await call('POST', '/conversations',
    { body: { contact_id: contact.id, inbox_id: account.inboxId, status: 'closed' } })
  t.equal(badStatus.status, 500)
  t.same(await counts(), { contact_inboxes: 2, conversations: 0, messages: 0 }, 'a new contact_inbox (no source_id given) survives the 500')

  const created = await create({ content: 'hello', message_type: 'incoming' }, 'src-1')
  t.equal(created.status, 200)
  t.match(created.body.messages, [{ content: 'hello', message_type: 0 }])
  const first = await call('GET', `/conversations/${created.body.id}/messages`)
  t.equal(first.body.payload[0].sender.type, 'contact')
})

test('an empty message object creates no message; message fields without content do', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const contact = (await call('POST', '/contacts', { body: { name: 'quiet', identifier: 'quiet', inbox_id: account.inboxId } })).body.payload
  const body = (message: unknown) => ({ contact_id: contact.contact.id, inbox_id: account.inboxId, source_id: contact.contact_inbox.source_id, message })
  t.equal((await call('POST', '/conversations', { body: body({}) })).status, 200)
  t.equal((await sim.query('SELECT count(*)::int AS count FROM messages'))[0].count, 0)
  t.equal((await call('POST', '/conversations', { body: body({ private: true }) })).status, 200)
  t.same(await sim.query('SELECT content, private FROM messages'), [{ content: null, private: true }])
})
