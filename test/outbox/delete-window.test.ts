import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { test } from 'tap'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

const input = (identifier: string, index: number) => ({
  contact: { identifier, name: identifier },
  message: { content: `${identifier} ${index}`, source_id: `${identifier}-${index}` }
})
const sourceIds = (identifier: string, count: number) => Array.from({ length: count }, (_, index) => `${identifier}-${index}`)

function entriesOf (t: { teardown: (fn: () => unknown) => void }, databaseUrl: string) {
  const pool = new pg.Pool({ connectionString: databaseUrl })
  t.teardown(() => pool.end())
  return async () => (await pool.query(`
    SELECT source_id, state, conversation_id, redeliveries, payload IS NULL AS stripped, stripped_at,
           delivered_at, checked_at FROM chatwoot_outbox.entries ORDER BY seq`)).rows
}

test('an agent deletes the conversation while messages keep coming: the ones acknowledged into it are delivered again, in order, once each', async (t) => {
  // Chatwoot's delete job runs 400 ms after the DELETE; the posts in between answer 200 and vanish with it.
  const { sim, account, call } = await simulatedAccount(t, { conversationDeleteDelayMs: 400 })
  const { displayId } = await contactWithConversation(call, account.inboxId, 'alice')
  const { outbox, databaseUrl } = await outboxApp(t, {
    instances: { acme: instanceOf(sim, account) },
    outbox: { deleteWindowMs: 2000, settleMs: 200 }
  })
  const entries = entriesOf(t, databaseUrl)
  for (let index = 0; index < 5; index++) await outbox.enqueue('acme', input('alice', index))
  await until(async () => (await messagesOf(sim, account, 'alice')).length === 5, 30_000, 'the first five delivered')

  t.equal((await call('DELETE', `/conversations/${displayId}`)).status, 200, 'the agent deletes the conversation')
  for (let index = 5; index < 20; index++) {
    await outbox.enqueue('acme', input('alice', index))
    await sleep(60)
  }
  const all = sourceIds('alice', 20)
  await until(async () => {
    const stored = await messagesOf(sim, account, 'alice')
    return stored.length === 20 && (await outbox.outbox.stats()).queued === 0
  }, 30_000, 'all 20 in Chatwoot')
  // Long enough for every delete-window check to have run: nothing more may arrive.
  await until(async () => (await entries()).every((e) => e.checked_at !== null), 30_000, 'every entry vouched for')
  const stored = await messagesOf(sim, account, 'alice')
  t.same(stored.map((m) => m.source_id), all, 'in enqueue order, no gap, no duplicate')
  t.equal(new Set(stored.map((m) => m.display_id)).size, 1, 'all in one conversation')
  t.not(stored[0]!.display_id, displayId, 'the contact\'s new one')
  const rows = await entries()
  const again = rows.filter((e) => e.redeliveries > 0).map((e) => e.source_id)
  t.ok(again.length >= 5, `the vanished ones were delivered again (${again.length}: ${again.join(', ')})`)
  t.same(again, all.slice(0, again.length), 'from the first one acknowledged into the deleted conversation, in order')
  t.ok(rows.every((e) => e.state === 'delivered' && e.conversation_id === stored[0]!.display_id), 'all delivered, all recorded in the new conversation')
})

test('with nothing more coming, the settle-time check finds the deleted conversation and delivers its entries again', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { conversationDeleteDelayMs: 60_000 })
  const { displayId } = await contactWithConversation(call, account.inboxId, 'bob')
  const { outbox, databaseUrl } = await outboxApp(t, {
    instances: { acme: instanceOf(sim, account) },
    outbox: { deleteWindowMs: 1500, settleMs: 100 }
  })
  const entries = entriesOf(t, databaseUrl)
  for (let index = 0; index < 3; index++) await outbox.enqueue('acme', input('bob', index))
  await until(async () => (await messagesOf(sim, account, 'bob')).length === 3, 30_000, 'three delivered')
  t.equal((await call('DELETE', `/conversations/${displayId}`)).status, 200)
  await outbox.enqueue('acme', input('bob', 3))
  await until(async () => (await outbox.outbox.stats()).delivered === 4, 30_000, 'the fourth acknowledged into the deleted conversation')
  t.equal(await sim.runPendingDeletes(), 1, 'the delete job runs')
  t.same(await messagesOf(sim, account, 'bob'), [], 'all four vanished with it')

  await until(async () => (await messagesOf(sim, account, 'bob')).length === 4, 30_000, 'delivered again')
  await until(async () => (await entries()).every((e) => e.checked_at !== null), 30_000, 'vouched for in the new conversation')
  const stored = await messagesOf(sim, account, 'bob')
  t.same(stored.map((m) => m.source_id), sourceIds('bob', 4), 'in order, once each')
  t.not(stored[0]!.display_id, displayId)
  t.same((await entries()).map((e) => e.redeliveries), [1, 1, 1, 1])
})

test('a check vouches only for entries delivered at least the delete window before it, one check for a burst; then the content is stripped', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox, databaseUrl } = await outboxApp(t, {
    instances: { acme: instanceOf(sim, account) },
    // A burst spread over less than settleMs is vouched for by one check once its newest entry is past the window.
    outbox: { deleteWindowMs: 1500, settleMs: 2000 }
  })
  const entries = entriesOf(t, databaseUrl)
  for (let index = 0; index < 3; index++) await outbox.enqueue('acme', input('carol', index))
  await until(async () => (await outbox.outbox.stats()).delivered === 3, 30_000, 'three delivered')
  await sleep(500)
  t.ok((await entries()).every((e) => e.checked_at === null && !e.stripped), 'not vouched for inside the window, content kept')
  await until(async () => (await entries()).every((e) => e.stripped_at !== null), 30_000, 'stripped after a good check')
  const rows = await entries()
  for (const row of rows) {
    t.ok(row.checked_at.getTime() - row.delivered_at.getTime() >= 1500, `${row.source_id} checked ${row.checked_at.getTime() - row.delivered_at.getTime()} ms after delivery`)
    t.ok(row.stripped, `${row.source_id}'s content is gone`)
  }
  t.equal(new Set(rows.map((r) => r.checked_at.getTime())).size, 1, 'one check vouched for the whole burst')
  t.same((await messagesOf(sim, account, 'carol')).map((m) => m.source_id), sourceIds('carol', 3), 'nothing delivered twice')
})
