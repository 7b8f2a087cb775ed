import { type Test, test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { DeliveryResult } from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { gateway, instanceOf } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

// Telegram message ids repeat across chats, and two instances' gateways number theirs alike: deliveries
// that share a source_id but not a contact (or not an instance) must never touch each other, even when
// both recover from a deleted conversation and re-check for duplicates at the same time.

const range = (length: number) => Array.from({ length }, (_, index) => index)
const PER_SENDER = 60

interface Sender { instance: string, identifier: string, account: CreatedAccount }

/** The messages of one conversation (by display id) as stored, in id order. */
function messagesOf (sim: ChatwootSimulator, account: CreatedAccount, displayId: number) {
  return sim.query<{ content: string, source_id: string, contact_id: number }>(
    `SELECT m.content, m.source_id, c.contact_id::int AS contact_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
      WHERE c.account_id = $1 AND c.display_id = $2 ORDER BY m.id`, [account.accountId, displayId])
}

async function countMessages (sim: ChatwootSimulator) {
  const [row] = await sim.query<{ count: number }>('SELECT count(*)::int AS count FROM messages')
  return row!.count
}

/**
 * Both senders' conversations are made, then deleted; then PER_SENDER deliveries each, interleaved and
 * concurrent, with source_ids s0..s59 on both sides. Some posts are answered by a dropped connection
 * after they were stored, so the duplicate check runs for source_ids the other sender uses too.
 */
async function sameSourceIds (t: Test, sim: ChatwootSimulator, app: FastifyInstance, senders: [Sender, Sender]) {
  const deliver = (sender: Sender, content: string, sourceId: string) =>
    app.chatwoot.deliver(sender.instance, { contact: { identifier: sender.identifier, name: sender.identifier }, message: { content, source_id: sourceId } })
  const before = await Promise.all(senders.map((sender) => deliver(sender, 'before', 'before')))
  for (const [index, sender] of senders.entries()) {
    t.ok(await sim.deleteConversation(sender.account.accountId, before[index]!.conversationId), `${sender.instance}/${sender.identifier}: deleted`)
  }
  const stored = await countMessages(sim)
  sim.faults.add({ method: 'POST', path: /\/conversations\/\d+\/messages$/, dropAfterCommit: true, times: 8 })

  const calls = range(PER_SENDER).flatMap((index) => senders.map((sender, side) =>
    ({ side, index, promise: deliver(sender, `${sender.instance}/${sender.identifier} #${index}`, `s${index}`) })))
  const results = await Promise.all(calls.map(async (call) => ({ ...call, result: await call.promise })))

  t.equal(await countMessages(sim), stored + 2 * PER_SENDER, `no message lost, none twice: ${2 * PER_SENDER} stored`)
  t.equal(sim.faults.pending, 0, 'every dropped answer happened')
  for (const [side, sender] of senders.entries()) {
    const name = `${sender.instance}/${sender.identifier}`
    const mine: DeliveryResult[] = results.filter((entry) => entry.side === side).map((entry) => entry.result)
    const fresh = mine[0]!.conversationId
    t.not(fresh, before[side]!.conversationId, `${name}: a new conversation`)
    t.equal(mine[0]!.recovered, true, `${name}: its first delivery met the 404 and names the new conversation with recovered: true`)
    t.equal(mine.filter((result) => result.recovered).length, 1, `${name}: one recovery`)
    t.same(new Set(mine.map((result) => result.conversationId)), new Set([fresh]), `${name}: every result names its own new conversation`)
    t.ok(mine.every((result) => result.message.conversation_id === fresh && result.message.content === `${name} #${mine.indexOf(result)}`),
      `${name}: every result is its own message`)
    t.equal(mine[0]!.contactId, before[side]!.contactId, `${name}: for its own contact`)
    const rows = await messagesOf(sim, sender.account, fresh)
    t.same(rows.map((row) => row.content), range(PER_SENDER).map((index) => `${name} #${index}`),
      `${name}: its ${PER_SENDER} messages in its conversation, in call order, none of the other's`)
    t.same(rows.map((row) => row.source_id), range(PER_SENDER).map((index) => `s${index}`), `${name}: each source_id once`)
    t.ok(rows.every((row) => row.contact_id === before[side]!.contactId), `${name}: the conversation is its contact's`)
  }
  const dedupes = results.filter((entry) => entry.result.deduplicated).length
  t.ok(dedupes >= 1, `dropped answers were found by the duplicate check in the right conversation (${dedupes})`)
  t.same(results.filter((entry) => entry.result.deduplicated && entry.result.message.content !== (entry.side === 0
    ? `${senders[0].instance}/${senders[0].identifier} #${entry.index}`
    : `${senders[1].instance}/${senders[1].identifier} #${entry.index}`)), [], 'no deduplication found the other sender\'s message')
  return results
}

for (const idempotency of ['check', 'always'] as const) {
  test(`two contacts of one instance, the same source_ids, both conversations deleted (idempotency '${idempotency}')`, async (t) => {
    const { sim, account } = await simulatedAccount(t)
    const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { idempotency } })
    await sameSourceIds(t, sim, app, [{ instance: 'acme', identifier: 'alice', account }, { instance: 'acme', identifier: 'bob', account }])
    t.match(app.chatwoot.stats(), { recoveries: 2, misroutes: 0, failures: 0 })
  })
}

test('two instances on two accounts, the same contact identifier and source_ids, both conversations deleted', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const { app } = await gateway(t, {
    instances: { acme: instanceOf(sim, account), globex: instanceOf(sim, other) },
    conversations: { idempotency: 'always' }
  })
  await sameSourceIds(t, sim, app, [{ instance: 'acme', identifier: 'same', account }, { instance: 'globex', identifier: 'same', account: other }])
  t.match(app.chatwoot.stats(), { recoveries: 2, misroutes: 0, failures: 0 })
})

test('two instances on one account and inbox, two contacts, the same source_ids', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account), globex: instanceOf(sim, account) } })
  await sameSourceIds(t, sim, app, [{ instance: 'acme', identifier: 'alice', account }, { instance: 'globex', identifier: 'bob', account }])
  t.match(app.chatwoot.stats(), { recoveries: 2, misroutes: 0, failures: 0 })
})
