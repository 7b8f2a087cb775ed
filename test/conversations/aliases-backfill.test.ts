import { test } from 'tap'
import type { DeliveryContact } from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { appWithLogs } from '../helpers/app.js'
import { failure, gateway, instanceOf } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'

// Issue 15: a person's contact found in Chatwoot is given, once, the phone number an id gives and the
// person's other ids (additional_attributes.aliases); a refusal never fails a delivery. And person(): the
// key the outbox lanes a person's deliveries by.

const LID = '104612345678901@lid'
const PHONE_ID = '5511999990001:7@s.whatsapp.net'
const PHONE = '+5511999990001'
const lid = (aliases?: string[]): DeliveryContact => ({ identifier: LID, name: 'Ana', ...(aliases === undefined ? {} : { aliases }) })

async function contactsOf (sim: ChatwootSimulator, account: CreatedAccount) {
  return sim.query<{ id: number, identifier: string | null, phone_number: string | null, additional_attributes: Record<string, unknown> }>(
    'SELECT id, identifier, phone_number, additional_attributes FROM contacts WHERE account_id = $1 ORDER BY id', [account.accountId])
}

const puts = (sim: ChatwootSimulator) => sim.requests.filter((request) => request.method === 'PUT').map(({ status }) => status)

async function setup (t: Parameters<typeof simulatedAccount>[0], conversations = {}) {
  const { sim, account, call } = await simulatedAccount(t)
  const { app, logs } = appWithLogs()
  const { app: gatewayApp } = await gateway(t, { app, instances: { acme: instanceOf(sim, account) }, conversations })
  let sequence = 0
  const deliver = (contact: DeliveryContact) =>
    gatewayApp.chatwoot.deliver('acme', { contact, message: { content: `m${++sequence}`, source_id: `m${sequence}` } })
  return { sim, account, call, app: gatewayApp, logs, deliver }
}

test('a found contact lacking the phone and the aliases gets them in one PUT, once; a warm or re-found person costs none', async (t) => {
  const { sim, account, call, app, deliver } = await setup(t)
  // Made before the gateway knew the mapping (by another tool, or an older version): the lid alone.
  await call('POST', '/contacts', { body: { name: 'Ana', identifier: LID, inbox_id: account.inboxId, additional_attributes: { city: 'Recife' } } })
  sim.requests.length = 0

  const first = await deliver(lid([PHONE_ID]))
  t.same(puts(sim), [200], 'one update')
  const [contact] = await contactsOf(sim, account)
  t.match(contact, { id: first.contactId, identifier: LID, phone_number: PHONE }, 'the phone id\'s number (its device suffix dropped)')
  t.same(contact!.additional_attributes, { city: 'Recife', aliases: [PHONE_ID] }, 'the aliases recorded beside what was there')
  t.match(app.chatwoot.stats(), { backfills: 1, backfillsRefused: 0 })

  await deliver(lid([PHONE_ID]))
  await app.chatwoot.conversations.evict('acme', lid([PHONE_ID]))
  const again = await deliver(lid([PHONE_ID]))
  t.equal(again.cache, 'miss', 'found afresh in Chatwoot')
  t.same(puts(sim), [200], 'nothing missing any more: no second update')
  t.equal((await contactsOf(sim, account)).length, 1)
})

test('a refused update never fails the delivery: logged without the customer\'s numbers, counted; a refused phone leaves the aliases to go alone', async (t) => {
  const { sim, account, call, app, logs, deliver } = await setup(t)
  await call('POST', '/contacts', { body: { name: 'Ana', identifier: LID, inbox_id: account.inboxId } })
  sim.requests.length = 0
  sim.faults.add({ method: 'PUT', status: 422, body: { message: 'Phone number has already been taken', attributes: ['phone_number'] } })

  const delivered = await deliver(lid([PHONE_ID]))
  t.equal(delivered.message.content, 'm1', 'delivered')
  t.same(puts(sim), [422, 200], 'the phone refused, the aliases sent alone')
  t.match(await contactsOf(sim, account), [{ phone_number: null, additional_attributes: { aliases: [PHONE_ID] } }])
  t.match(app.chatwoot.stats(), { backfills: 1, backfillsRefused: 1, failures: 0 })
  const line = await logs.waitFor(/giving the contact its phone number or aliases was refused/)
  t.match(JSON.parse(line), { instance: 'acme', contactId: delivered.contactId, err: { code: 'FST_CHATWOOT_VALIDATION' } })
  t.notMatch(line, /5511999990001|104612345678901/, 'no phone number or id in the log')

  // Anything else (here the contact merged away meanwhile: 404) is not sent again; the delivery goes on.
  await app.chatwoot.conversations.evict('acme', lid())
  sim.requests.length = 0
  sim.faults.add({ method: 'PUT', status: 404 })
  t.equal((await deliver(lid([PHONE_ID, 'other-id']))).conversationId, delivered.conversationId)
  t.same(puts(sim), [404])
  t.match(app.chatwoot.stats(), { backfillsRefused: 2, failures: 0 })
})

test('a late mapping without merge: the survivor is not offered the phone the other contact keeps, only the aliases', async (t) => {
  const { sim, account, app, deliver } = await setup(t)
  const a = await deliver(lid())
  const b = await deliver({ identifier: PHONE_ID, name: 'Ana', phone_number: PHONE })
  await sim.query('UPDATE conversations SET last_activity_at = now() + interval \'1 hour\' WHERE account_id = $1 AND display_id = $2',
    [account.accountId, a.conversationId])
  sim.requests.length = 0
  const linked = await deliver(lid([PHONE_ID]))
  t.equal(linked.contactId, a.contactId, 'the lid\'s contact survives (latest activity)')
  t.same(puts(sim), [200], 'one update, not refused')
  t.match(await contactsOf(sim, account), [
    { id: a.contactId, phone_number: null, additional_attributes: { aliases: [PHONE_ID] } },
    { id: b.contactId, phone_number: PHONE }
  ])
  t.match(app.chatwoot.stats(), { backfills: 1, backfillsRefused: 0 })
})

test('a new contact for a person with a phone id is created with the phone number; no update follows', async (t) => {
  const { sim, account, deliver } = await setup(t)
  await deliver(lid([PHONE_ID]))
  t.same(puts(sim), [])
  t.match(await contactsOf(sim, account), [{ identifier: LID, phone_number: PHONE, additional_attributes: { aliases: [PHONE_ID] } }])
})

test('conversations.person(): two ids of one person answer one key, in every process; an id never linked answers itself', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const instances = { acme: instanceOf(sim, account) }
  const one = await gateway(t, { instances })
  const two = await gateway(t, { instances, conversations: { keyPrefix: one.keyPrefix } })
  const person = (app: typeof one.app, contact: DeliveryContact) => app.chatwoot.conversations.person('acme', contact)

  t.equal(await person(one.app, { identifier: PHONE_ID }), PHONE_ID, 'never linked: its own id')
  t.equal(await person(one.app, lid([PHONE_ID])), LID, 'linked: the smallest id of the group')
  t.equal(await person(two.app, { identifier: PHONE_ID }), LID, 'the other process, by the phone id alone')
  t.equal(await person(two.app, { identifier: 'someone-else' }), 'someone-else')
  t.same(sim.requests, [], 'Chatwoot is not asked')

  // Once linked this way (an enqueue), deliveries under either id go to one conversation.
  const first = await one.app.chatwoot.deliver('acme', { contact: { identifier: PHONE_ID }, message: { content: 'a' } })
  const second = await two.app.chatwoot.deliver('acme', { contact: lid(), message: { content: 'b' } })
  t.equal(second.conversationId, first.conversationId)

  t.equal((await failure(person(one.app, { identifier: '' }))).code, 'FST_CHATWOOT_DELIVERY_INVALID')
  t.equal((await failure(person(one.app, { identifier: LID, aliases: [''] }))).code, 'FST_CHATWOOT_DELIVERY_INVALID')
})

test('conversations.person() without Redis: the process\'s own map', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) }, redis: false })
  t.equal(await app.chatwoot.conversations.person('acme', lid([PHONE_ID])), LID)
  t.equal(await app.chatwoot.conversations.person('acme', { identifier: PHONE_ID }), LID)
  t.equal(await app.chatwoot.conversations.person('acme', { identifier: 'x' }), 'x')
})
