import { test } from 'tap'
import type { DeliveryContact } from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { failure, gateway, instanceOf } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'

const LID = '104612345678901@lid'
const PHONE_ID = '5511999990001@s.whatsapp.net'
const PHONE = '+5511999990001'
const lid = (aliases?: string[]): DeliveryContact => ({ identifier: LID, name: 'Ana', ...(aliases === undefined ? {} : { aliases }) })
const phone = (aliases?: string[]): DeliveryContact => ({ identifier: PHONE_ID, name: 'Ana', phone_number: PHONE, ...(aliases === undefined ? {} : { aliases }) })

async function contactsOf (sim: ChatwootSimulator, account: CreatedAccount) {
  return sim.query<{ id: number, identifier: string | null, phone_number: string | null, additional_attributes: Record<string, unknown> }>(
    'SELECT id, identifier, phone_number, additional_attributes FROM contacts WHERE account_id = $1 ORDER BY id', [account.accountId])
}

async function conversationsOf (sim: ChatwootSimulator, account: CreatedAccount) {
  return sim.query<{ display_id: number, contact_id: number, messages: number }>(
    `SELECT c.display_id, c.contact_id, (SELECT count(*)::int FROM messages m WHERE m.conversation_id = c.id) AS messages
       FROM conversations c WHERE c.account_id = $1 ORDER BY c.display_id`, [account.accountId])
}

/** Two gateways on one Redis, as two processes of one deployment (the same key prefix). */
async function twoGateways (t: { teardown: (fn: () => unknown) => void }, merge = false, extra = {}) {
  const { sim, account } = await simulatedAccount(t)
  const instances = { acme: instanceOf(sim, account) }
  const one = await gateway(t, { instances, conversations: { merge, ...extra } })
  const two = await gateway(t, { instances, conversations: { merge, keyPrefix: one.keyPrefix, ...extra } })
  let sequence = 0
  const deliver = (app: typeof one.app, contact: DeliveryContact) =>
    app.chatwoot.deliver('acme', { contact, message: { content: `m${++sequence}`, source_id: `m${sequence}` } })
  return { sim, account, one: one.app, two: two.app, deliver }
}

test('aliases known from the first message: one contact, aliases recorded on it, one conversation for every id and process', async (t) => {
  const { sim, account, one, two, deliver } = await twoGateways(t)
  const first = await deliver(one, lid([PHONE_ID]))
  const byPhone = await deliver(two, phone())
  const byLid = await deliver(two, lid())
  t.same([byPhone.conversationId, byLid.conversationId], [first.conversationId, first.conversationId], 'every id, without its aliases, reaches the person')
  const contacts = await contactsOf(sim, account)
  t.equal(contacts.length, 1, 'one contact')
  t.same(contacts[0]!.additional_attributes.aliases, [PHONE_ID], 'its other ids are recorded on it (additional_attributes.aliases)')
  t.same((await conversationsOf(sim, account)).map((row) => row.messages), [3], 'one conversation with the three messages')
})

test('a late mapping without merge: the contact whose conversation was active last survives, and takes every message from then on', async (t) => {
  const { sim, account, one, two, deliver } = await twoGateways(t)
  const a = await deliver(one, lid())
  const b = await deliver(two, phone())
  t.not(a.conversationId, b.conversationId, 'before the mapping: two contacts, two conversations')
  // The lid's conversation had the latest activity (an agent answered there an hour after the phone's).
  await sim.query('UPDATE conversations SET last_activity_at = now() + interval \'1 hour\' WHERE account_id = $1 AND display_id = $2',
    [account.accountId, a.conversationId])
  const linked = await deliver(two, phone([LID]))
  t.equal(linked.conversationId, a.conversationId, 'delivered under the phone id, into the lid\'s conversation: the latest activity wins')
  t.equal(linked.contactId, a.contactId)
  for (const [app, contact] of [[one, phone()], [two, lid()], [one, lid([PHONE_ID])], [two, phone()]] as const) {
    t.equal((await deliver(app, contact)).conversationId, a.conversationId, `then ${contact.identifier} from either process: the same conversation`)
  }
  t.equal((await contactsOf(sim, account)).length, 2, 'without merge both contacts stay')
  t.same((await conversationsOf(sim, account)).map((row) => row.messages), [6, 1], 'every message once: 1 + 5 after the mapping, and the phone\'s first')
})

test('a late mapping with merge: ties go to the contact with a phone number, which holds both conversations', async (t) => {
  const { sim, account, one, two, deliver } = await twoGateways(t, true)
  const a = await deliver(one, lid())
  const b = await deliver(two, phone())
  // The same second of activity for both (Chatwoot keeps it in seconds): a tie.
  await sim.query('UPDATE conversations SET last_activity_at = date_trunc(\'second\', now()) WHERE account_id = $1', [account.accountId])
  const linked = await deliver(one, lid([PHONE_ID]))
  t.equal(linked.conversationId, b.conversationId, 'the phone number breaks the tie')
  t.equal(linked.contactId, b.contactId)
  const contacts = await contactsOf(sim, account)
  t.same(contacts.map((contact) => contact.id), [b.contactId], 'the lid contact was merged into the survivor')
  const conversations = await conversationsOf(sim, account)
  t.same(conversations.map((row) => [row.display_id, row.contact_id]), [[a.conversationId, b.contactId], [b.conversationId, b.contactId]],
    'the survivor holds both earlier conversations (Chatwoot moves them, never combines them)')
  t.equal((await deliver(two, lid())).conversationId, b.conversationId, 'the lid alone, from the other process: the survivor\'s conversation')
  t.equal((await deliver(one, phone())).conversationId, b.conversationId)
  t.same(conversations.map((row) => row.messages), [1, 2])
})

test('the aliases option links ids from the host\'s own mapping; a bad answer is refused with a code', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const asked: Array<[string, string]> = []
  let answer: unknown = [PHONE_ID]
  const { app } = await gateway(t, {
    instances: { acme: instanceOf(sim, account) },
    conversations: {
      aliases: async (instance, contact) => {
        asked.push([instance, contact.identifier])
        return contact.identifier === LID ? answer as string[] : []
      }
    }
  })
  const first = await app.chatwoot.deliver('acme', { contact: lid(), message: { content: 'one' } })
  const second = await app.chatwoot.deliver('acme', { contact: phone(), message: { content: 'two' } })
  t.equal(second.conversationId, first.conversationId, 'the phone id reaches the person the option linked it to')
  t.same(asked, [['acme', LID], ['acme', PHONE_ID]], 'asked once per delivery with the instance and the contact')
  answer = ['ok', 'bad\u0000id']
  const error = await failure(app.chatwoot.deliver('acme', { contact: lid(), message: { content: 'three' } }))
  t.equal(error.code, 'FST_CHATWOOT_DELIVERY_INVALID')
  t.match(error.message, /the aliases option's answer\[1\] holds a NUL byte/)
  t.equal((await contactsOf(sim, account)).length, 1)
})
