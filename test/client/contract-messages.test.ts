import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'tap'
import { ChatwootError, type MessageType } from '../../lib/client/index.js'
import { withClient } from '../helpers/client.js'
import { contactWithConversation } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

// Issue 14, the client's side of items 7 (answers as Chatwoot gives them, and the duplicate check against
// its ordering by created_at) and 9 (no source_id invented for an outgoing message).

usesServers('postgres')

type Setup = Awaited<ReturnType<typeof withClient>>

async function withConversation (t: Parameters<typeof withClient>[0], retry?: Parameters<typeof withClient>[1]) {
  const setup = await withClient(t, retry)
  const conversation = await contactWithConversation(setup.call, setup.account.inboxId, 'contract@s.whatsapp.net')
  setup.sim.requests.length = 0
  return { ...setup, ...conversation }
}

const posts = ({ sim }: Setup) => sim.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/messages'))
const stored = ({ sim }: Setup, content: string) =>
  sim.query<{ id: number, source_id: string | null }>('SELECT id, source_id FROM messages WHERE content = $1 ORDER BY id', [content])

test('item 7: the duplicate check finds a lost message whose created_at is older than that of messages with lower ids', async (t) => {
  const setup = await withConversation(t, { maxRetries: 3, minDelayMs: 300, maxDelayMs: 300, jitter: false })
  const { sim, call, client, displayId } = setup
  // More than a page (20) of messages before it, all stored "now".
  await sim.query(`INSERT INTO messages (content, account_id, inbox_id, conversation_id, message_type, sender_type)
    SELECT 'before ' || n, c.account_id, c.inbox_id, c.id, 0, 'Contact' FROM conversations c, generate_series(1, 25) n
     WHERE c.display_id = $1`, [displayId])
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  const sending = client.createMessage(displayId, { content: 'inverted', message_type: 'incoming' })
  while (posts(setup).length === 0) await sleep(5)
  // As concurrent posts leave them: the highest id with a created_at (set in Ruby before the insert) older than the others'.
  await sim.query("UPDATE messages SET created_at = created_at - interval '30 seconds' WHERE content = 'inverted'")

  const latest = await call('GET', `/conversations/${displayId}/messages`)
  const contents = (answer: typeof latest) => (answer.body.payload as Array<{ content: string, id: number }>).map((message) => message.content)
  t.equal(latest.body.payload.length, 20)
  t.notOk(contents(latest).includes('inverted'), 'not on the latest page: Chatwoot orders it by created_at')
  const lowest = Math.min(...latest.body.payload.map((message: { id: number }) => message.id))
  t.notOk(contents(await call('GET', `/conversations/${displayId}/messages?before=${lowest}`)).includes('inverted'),
    'nor on the page before the lowest id seen: paging back by id alone would never meet it')

  const message = await sending
  const rows = await stored(setup, 'inverted')
  t.equal(rows.length, 1, 'stored once')
  t.equal(message.id, rows[0]?.id, 'found by the check: the call answers the stored message')
  t.equal(posts(setup).length, 1, 'one POST: not posted twice')
})

test('item 7: an incoming message\'s answer names the contact as sender; toggle answers snoozed_until as ISO text', async (t) => {
  const setup = await withConversation(t)
  const { client, displayId, contactId } = setup
  const message = await client.createMessage(displayId, { content: 'from the contact', message_type: 'incoming' })
  t.match(message.sender, { id: contactId, type: 'contact' })
  const until = Math.floor(Date.now() / 1000) + 3600
  const snoozed = await client.toggleConversationStatus(displayId, { status: 'snoozed', snoozed_until: until })
  t.same(snoozed.payload, { success: true, conversation_id: displayId, current_status: 'snoozed', snoozed_until: new Date(until * 1000).toISOString() })
  const reopened = await client.toggleConversationStatus(displayId)
  t.same(reopened.payload, { success: true, conversation_id: displayId, current_status: 'open', snoozed_until: null })
  await t.rejects(client.toggleConversationStatus(displayId, { status: 'snoozed', snoozed_until: -5 }),
    { code: 'FST_CHATWOOT_INPUT_INVALID', message: /snoozed_until \(unix seconds\) must be a positive integer, got -5/ })
})

test('item 9: an outgoing message (named, or by Chatwoot\'s default) is given no source_id; the other types are', async (t) => {
  const setup = await withConversation(t)
  const { client, displayId } = setup
  const cases: Array<[MessageType | undefined, boolean]> = [[undefined, false], ['outgoing', false], ['incoming', true], ['activity', true], ['template', true]]
  for (const [type, generated] of cases) {
    const content = `typed ${type ?? 'by default'}`
    const message = await client.createMessage(displayId, { content, ...(type === undefined ? {} : { message_type: type }) })
    const [row] = await stored(setup, content)
    t.equal(row?.source_id !== null, generated, `${content}: ${generated ? 'a source_id to look for' : 'no source_id'}`)
    t.equal(message.source_id, row?.source_id)
  }
  const mirrored = await client.createMessage(displayId, { content: 'sent from the phone', message_type: 'outgoing', source_id: 'wamid.PHONE1' })
  t.equal(mirrored.source_id, 'wamid.PHONE1', 'a caller\'s own source_id on an outgoing message is kept')
})

test('item 9: an outgoing message without a source_id is not sent again after a failure that may have landed', async (t) => {
  const setup = await withConversation(t)
  const { sim, client, displayId } = setup
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  const error = await client.createMessage(displayId, { content: 'unverifiable', message_type: 'outgoing' }).then(
    () => undefined, (error: unknown) => error as ChatwootError)
  t.ok(error instanceof ChatwootError, 'it fails instead of risking a second copy')
  t.match(error, { code: 'FST_CHATWOOT_NETWORK', mayHaveLanded: true, operation: 'createMessage' })
  t.equal((await stored(setup, 'unverifiable')).length, 1, 'it had landed: one copy')
  t.same(sim.requests.map(({ method }) => method), ['POST'], 'one POST, and no lookup (nothing to look for)')

  sim.requests.length = 0
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 429 })
  await client.createMessage(displayId, { content: 'throttled first' })
  t.same(posts(setup).map(({ status }) => status), [429, 200], 'a failure that surely did not land (429) is retried')
  t.equal((await stored(setup, 'throttled first')).length, 1)
})
