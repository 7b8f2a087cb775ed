import { once } from 'node:events'
import { test } from 'tap'
import type { DeliveryContact, DeliveryResult } from '../../lib/index.js'
import { gateway, instanceOf } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'

const LID = '104612345678901@lid'
const PHONE_ID = '5511999990001@s.whatsapp.net'

const contact = (which: 'lid' | 'phone', linked: boolean): DeliveryContact => ({
  identifier: which === 'lid' ? LID : PHONE_ID,
  name: 'Ana',
  ...(which === 'phone' ? { phone_number: '+5511999990001' } : {}),
  ...(linked ? { aliases: [which === 'lid' ? PHONE_ID : LID] } : {})
})

for (const merge of [false, true]) {
  test(`Redis down while the mapping is learnt, back after (merge: ${merge}): from the mapping on one conversation, each message once, in order`,
    { timeout: 120000 }, async (t) => {
      const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 100000 })
      const instances = { acme: instanceOf(sim, account) }
      // Two gateways on one Redis, as two processes; localTtlMs 1 so neither leans on its own copy for long.
      const one = await gateway(t, { instances, conversations: { merge, localTtlMs: 1, redisTimeoutMs: 100 } })
      const two = await gateway(t, { instances, conversations: { merge, localTtlMs: 1, redisTimeoutMs: 100, keyPrefix: one.keyPrefix } })
      const apps = [one.app, two.app]
      for (const app of apps) app.redis.on('error', () => {})
      const results: DeliveryResult[] = []
      let index = 0
      const deliver = async (linked: boolean) => {
        index++
        // Alternating processes and ids: odd messages under the lid from the first process, even under the phone id from the second.
        const app = apps[(index - 1) % 2]!
        results.push(await app.chatwoot.deliver('acme', {
          contact: contact(index % 2 === 1 ? 'lid' : 'phone', linked),
          message: { content: `message ${index}`, source_id: `m${index}` }
        }))
      }

      await deliver(false)
      await deliver(false)
      t.not(results[0]!.conversationId, results[1]!.conversationId, 'two conversations before the mapping')

      // Redis goes away for both processes (a host's client that lost its connection): the mapping arrives now.
      await Promise.all(apps.map(async (app) => {
        const ended = once(app.redis, 'end')
        app.redis.disconnect()
        await ended
      }))
      t.same(apps.map((app) => app.redis.status === 'ready'), [false, false], 'Redis cannot be asked')
      for (let i = 0; i < 6; i++) await deliver(true)
      for (const app of apps) await app.redis.connect()
      for (let i = 0; i < 6; i++) await deliver(true)

      const later = results.slice(2)
      t.same([...new Set(later.map((result) => result.conversationId))].length, 1,
        `from the third message on one conversation (${later.map((result) => result.conversationId).join(' ')})`)
      t.same(apps.map((app) => app.chatwoot.stats().failures), [0, 0], 'no delivery failed for the outage')
      const rows = await sim.query<{ source_id: string, display_id: number, contact_id: number }>(
        `SELECT m.source_id, c.display_id, c.contact_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
          WHERE m.account_id = $1 ORDER BY m.id`, [account.accountId])
      t.same(rows.map((row) => row.source_id), results.map((_, at) => `m${at + 1}`), 'every message stored once, in the order delivered')
      const target = later[0]!.conversationId
      t.same(rows.slice(2).map((row) => row.display_id), later.map(() => target), 'Chatwoot agrees on the conversation')
      const contacts = await sim.query<{ id: number }>('SELECT id FROM contacts WHERE account_id = $1', [account.accountId])
      t.equal(contacts.length, merge ? 1 : 2, merge ? 'merge: one contact' : 'without merge both contacts stay')
      if (merge) t.same([...new Set(rows.map((row) => row.contact_id))], [contacts[0]!.id], 'merge: it holds every conversation')
    })
}
