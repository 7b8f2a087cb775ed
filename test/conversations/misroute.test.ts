import { type Test, test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { DeliveryResult } from '../../lib/index.js'
import { type ChatwootSimulator, createChatwootSimulator, serverUrl } from '../../lib/testing/index.js'
import { appWithLogs } from '../helpers/app.js'
import { gateway, instanceOf } from '../helpers/gateway.js'
import { conversationKey } from '../helpers/keys.js'
import { chatwootApi, startSimulator } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

// Ids of one Chatwoot database used against another: prevented where the key can tell the databases
// apart (origin and the API inbox's identifier), detected from the answer's sender where it cannot.

const DELETED = 'This message was deleted'

const send = (app: FastifyInstance, instance: string, identifier: string, content: string): Promise<DeliveryResult> =>
  app.chatwoot.deliver(instance, { contact: { identifier, name: identifier }, message: { content } })

/** Every message of the simulator with its conversation's display id and its contact's identifier, in id order. */
function everything (sim: ChatwootSimulator) {
  return sim.query<{ conversation: number, owner: string, content: string, deleted: boolean }>(
    `SELECT c.display_id AS conversation, k.identifier AS owner, m.content, coalesce((m.content_attributes->>'deleted')::boolean, false) AS deleted
       FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts k ON k.id = c.contact_id ORDER BY m.id`)
}

/** A simulator closed by the test (not at teardown), so another can take its port. */
async function closable (t: Test, port = 0) {
  const sim = await createChatwootSimulator({ database: serverUrl(), port })
  let closed = false
  const close = async () => {
    if (!closed) await sim.close()
    closed = true
  }
  t.teardown(close)
  return { sim, close }
}

for (const restartedGateway of [true, false]) {
  test(`a Chatwoot restarted on the same URL with a fresh database, the same Redis, Bob first (${restartedGateway ? 'gateway restarted too' : 'gateway kept running'}): Alice's message never lands in Bob's conversation`, async (t) => {
    const first = await closable(t)
    const port = Number(new URL(first.sim.url).port)
    const account = await first.sim.createAccount()
    const table = { acme: instanceOf(first.sim, account) }
    const one = await gateway(t, { instances: table })
    const before = await send(one.app, 'acme', 'alice', 'before the restart')

    await first.close()
    const second = await closable(t, port)
    const fresh = await second.sim.createAccount()
    t.equal(second.sim.url, first.sim.url, 'the same URL')
    t.same([fresh.accountId, fresh.inboxId], [account.accountId, account.inboxId], 'the same account and inbox ids')
    table.acme = instanceOf(second.sim, fresh)
    let app = one.app
    if (restartedGateway) {
      app = (await gateway(t, { instances: table, conversations: { keyPrefix: one.keyPrefix } })).app
    } else {
      app.chatwootInstances.invalidate('acme')
    }

    const bob = await send(app, 'acme', 'bob', 'Bob writes first')
    t.same([bob.conversationId, bob.contactId], [before.conversationId, before.contactId], 'Bob got the ids Alice had cached')
    const alice = await send(app, 'acme', 'alice', 'Alice after the restart')
    t.not(alice.conversationId, bob.conversationId, 'Alice is in a conversation of her own')
    t.same(await everything(second.sim), [
      { conversation: bob.conversationId, owner: 'bob', content: 'Bob writes first', deleted: false },
      { conversation: alice.conversationId, owner: 'alice', content: 'Alice after the restart', deleted: false }
    ], 'nothing of Alice\'s ever stored in Bob\'s conversation, not even deleted afterwards')
    t.equal(alice.cache, 'miss', 'prevented: the inbox\'s identity differs, so Alice\'s old entry is another key')
    t.equal(app.chatwoot.stats().misroutes, 0, 'nothing to detect')
  })
}

test('a database restored from a backup (same inbox identity, ids reused), Bob first: detected, deleted there, delivered to Alice', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { app: base, logs } = appWithLogs()
  const { app, redis, keyPrefix } = await gateway(t, { app: base, instances: { acme: instanceOf(sim, account) } })
  const before = await send(app, 'acme', 'alice', 'before the restore')

  // The restore: the people and their conversations are gone, the inbox (and its identifier) kept, ids restart.
  await sim.query('DELETE FROM messages; DELETE FROM conversations; DELETE FROM contact_inboxes; DELETE FROM contacts')
  await sim.query(`ALTER SEQUENCE messages_id_seq RESTART; ALTER SEQUENCE conversations_id_seq RESTART;
    ALTER SEQUENCE contact_inboxes_id_seq RESTART; ALTER SEQUENCE contacts_id_seq RESTART; ALTER SEQUENCE conv_dpid_seq_${account.accountId} RESTART`)
  const bob = await send(app, 'acme', 'bob', 'Bob writes first')
  t.same([bob.conversationId, bob.contactId], [before.conversationId, before.contactId], 'Bob got the ids Alice had cached')

  const alice = await send(app, 'acme', 'alice', 'Alice after the restore')
  t.not(alice.conversationId, bob.conversationId, 'Alice\'s result names another conversation')
  t.equal(alice.recovered, true, 'recovered')
  t.equal(alice.message.content, 'Alice after the restore')
  const rows = await everything(sim)
  t.same(rows.filter((row) => row.conversation === bob.conversationId), [
    { conversation: bob.conversationId, owner: 'bob', content: 'Bob writes first', deleted: false },
    { conversation: bob.conversationId, owner: 'bob', content: DELETED, deleted: true }
  ], 'the stray message is soft-deleted in Bob\'s conversation: Bob\'s agent sees no word of Alice\'s')
  t.same(rows.filter((row) => row.conversation !== bob.conversationId), [
    { conversation: alice.conversationId, owner: 'alice', content: 'Alice after the restore', deleted: false }
  ], 'Alice\'s message in Alice\'s new conversation')
  t.equal(app.chatwoot.stats().misroutes, 1, 'one misroute counted')
  const line = JSON.parse(await logs.waitFor(/another contact's conversation/))
  t.match(line, { level: 50, instance: 'acme', conversationId: bob.conversationId }, 'an error log line naming where it landed')
  t.equal(await redis!.get(await conversationKey(sim, keyPrefix, 'acme', account, 'alice')), `${alice.conversationId}:${alice.contactId}:alice`,
    'the cache now holds Alice\'s new conversation')

  const again = await send(app, 'acme', 'alice', 'Alice again')
  t.match(again, { conversationId: alice.conversationId, cache: 'hit', recovered: false }, 'her next message goes straight there')
  const bobAgain = await send(app, 'acme', 'bob', 'Bob again')
  t.equal(bobAgain.conversationId, bob.conversationId, 'Bob keeps his')
  t.equal(app.chatwoot.stats().misroutes, 1, 'no further misroute')
})

test('two instances re-pointed at each other\'s Chatwoot (same ids in both): no message crosses', async (t) => {
  const left = await startSimulator(t)
  const right = await startSimulator(t)
  const leftAccount = await left.createAccount()
  const rightAccount = await right.createAccount()
  t.same([leftAccount.accountId, leftAccount.inboxId], [rightAccount.accountId, rightAccount.inboxId], 'the same account and inbox ids')
  const table = { acme: instanceOf(left, leftAccount), globex: instanceOf(right, rightAccount) }
  const { app } = await gateway(t, { instances: table })
  const alice = await send(app, 'acme', 'alice', 'alice 0')
  const bob = await send(app, 'globex', 'bob', 'bob 0')
  t.same([alice.conversationId, alice.contactId], [bob.conversationId, bob.contactId], 'the same ids on both sides')

  table.acme = instanceOf(right, rightAccount)
  table.globex = instanceOf(left, leftAccount)
  app.chatwootInstances.invalidate('acme')
  app.chatwootInstances.invalidate('globex')
  const results = await Promise.all([1, 2, 3, 4, 5].flatMap((index) => [
    send(app, 'acme', 'alice', `alice ${index}`), send(app, 'globex', 'bob', `bob ${index}`)]))

  const where = (rows: Awaited<ReturnType<typeof everything>>) => rows.map((row) => `${row.owner}: ${row.content}`)
  t.same(where(await everything(left)), ['alice: alice 0', ...[1, 2, 3, 4, 5].map((index) => `bob: bob ${index}`)],
    'the left Chatwoot: Alice\'s first message in her conversation, Bob\'s later ones in his')
  t.same(where(await everything(right)), ['bob: bob 0', ...[1, 2, 3, 4, 5].map((index) => `alice: alice ${index}`)],
    'the right Chatwoot likewise: every message in its own contact\'s conversation, none deleted')
  t.ok(results.every((result) => result.cache === 'miss' || result.cache === 'hit'))
  t.equal(results.filter((result) => result.cache === 'miss').length, 2, 'one miss per instance: the old entries are other keys')
  t.equal(app.chatwoot.stats().misroutes, 0, 'prevented, not detected')
})

test('a merged contact (the same person under a new contact id) is no misroute: the message stays, the cache follows', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const call = chatwootApi(sim, account)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) } })
  const first = await send(app, 'acme', 'alice', 'before the merge')
  // An agent made her a second contact (by e-mail), then merged the gateway's contact into it.
  const created = await call('POST', '/contacts', { body: { name: 'Alice', email: 'alice@example.com' } })
  const merged = created.body.payload.contact.id as number
  const merge = await call('POST', '/actions/contact_merge', { body: { base_contact_id: merged, mergee_contact_id: first.contactId } })
  t.equal(merge.status, 200)
  t.equal(merge.body.identifier, 'alice', 'the merged contact carries her identifier')

  const after = await send(app, 'acme', 'alice', 'after the merge')
  t.equal(after.conversationId, first.conversationId, 'delivered into her conversation, which moved to the merged contact')
  t.equal(after.recovered, false)
  t.equal(after.contactId, merged, 'and names the contact she is now')
  const next = await send(app, 'acme', 'alice', 'next')
  t.match(next, { conversationId: first.conversationId, contactId: merged }, 'the cache now names the merged contact')
  t.same((await everything(sim)).map((row) => [row.conversation, row.owner, row.content, row.deleted]), [
    [first.conversationId, 'alice', 'before the merge', false],
    [first.conversationId, 'alice', 'after the merge', false],
    [first.conversationId, 'alice', 'next', false]
  ], 'every message kept, none deleted')
  t.match(app.chatwoot.stats(), { misroutes: 0, failures: 0 })
})
