import { test } from 'tap'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

const inputs = (identifier: string, count: number, tag = identifier) => Array.from({ length: count }, (_, index) => ({
  contact: { identifier, name: identifier },
  message: { content: `${tag} ${index}`, source_id: `${tag}-${index}` }
}))

test('per contact, messages reach Chatwoot in enqueue order and once, also while one of them is failing', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'alice')
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) } })
  // The third post and its quick retries fail: the entry waits, and nothing behind it overtakes it.
  sim.faults.add({ method: 'POST', path: `/api/v1/accounts/${account.accountId}/conversations/${displayId}/messages`, status: 500, times: 1 })
  for (const input of inputs('alice', 2)) await outbox.enqueue('acme', input)
  await until(async () => (await messagesOf(sim, account, 'alice')).length === 2, 30_000, 'the first two delivered')
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 503, times: 12 })
  for (const input of inputs('alice', 20).slice(2)) await outbox.enqueue('acme', input)
  await until(async () => (await outbox.outbox.stats()).delivered === 20, 30_000, 'all 20 delivered')
  const stored = await messagesOf(sim, account, 'alice')
  t.same(stored.map((m) => m.source_id), inputs('alice', 20).map((i) => i.message.source_id), 'enqueue order, no gap, no duplicate')
  t.ok(outbox.outbox.counters().retried >= 1, `the failing entry was retried (${outbox.outbox.counters().retried} times)`)
  t.equal(sim.faults.pending, 0, 'every injected failure was met')
})

test('a failing contact blocks only itself; a dead entry releases its lane, and replay re-enters it at the lane\'s end', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const alice = await contactWithConversation(call, account.inboxId, 'alice')
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) } })
  const alicePath = `/api/v1/accounts/${account.accountId}/conversations/${alice.displayId}/messages`
  sim.faults.add({ method: 'POST', path: alicePath, status: 500, times: Infinity })
  for (const input of inputs('alice', 3)) await outbox.enqueue('acme', input)
  for (const input of inputs('bob', 5)) await outbox.enqueue('acme', input)
  await until(async () => (await messagesOf(sim, account, 'bob')).length === 5, 30_000, 'bob delivered while alice fails')
  // Chatwoot has a message a moment before the outbox records it (a batch records its posts together).
  await until(async () => (await outbox.outbox.stats()).queued === 3, 30_000, 'bob\'s recorded, alice\'s 3 still queued')
  t.same((await messagesOf(sim, account, 'alice')).length, 0, 'alice waits, in order')

  sim.faults.clear()
  // A 422 is Chatwoot refusing the message itself: dead at once, with Chatwoot's reason.
  sim.faults.add({ method: 'POST', path: alicePath, status: 422, body: { error: 'Validation failed: Content is not allowed' }, times: 1 })
  await until(async () => (await messagesOf(sim, account, 'alice')).length === 2, 30_000, 'alice\'s lane goes on behind her dead entry')
  t.same((await messagesOf(sim, account, 'alice')).map((m) => m.source_id), ['alice-1', 'alice-2'])
  const { entries, cursor } = await outbox.outbox.dead({ instance: 'acme' })
  t.equal(cursor, null)
  t.equal(entries.length, 1)
  t.match(entries[0], {
    sourceId: 'alice-0', lastErrorCode: 'FST_CHATWOOT_VALIDATION', reason: /FST_CHATWOOT_VALIDATION: .*Content is not allowed/, conversationId: alice.displayId
  })
  t.ok(entries[0]!.attempts >= 2, `attempts kept (${entries[0]!.attempts})`)

  await outbox.enqueue('acme', inputs('alice', 4)[3]!)
  await until(async () => (await messagesOf(sim, account, 'alice')).length === 3, 30_000, 'alice-3 delivered')
  t.equal(await outbox.outbox.replay([entries[0]!.id]), 1, 'one entry replayed')
  await until(async () => (await messagesOf(sim, account, 'alice')).length === 4, 30_000, 'the replayed entry delivered')
  t.same((await messagesOf(sim, account, 'alice')).map((m) => m.source_id), ['alice-1', 'alice-2', 'alice-3', 'alice-0'], 'at the lane\'s end')
  // Chatwoot has the message a moment before the outbox records it delivered.
  await until(async () => (await outbox.outbox.stats()).delivered === 9, 30_000, 'the replay recorded')
  t.match(await outbox.outbox.stats(), { queued: 0, dead: 0, delivered: 9, oldestQueuedAgeMs: 0, paused: [] })
})

test('discard deletes dead entries only; dead() pages with a cursor', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) } })
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 422, body: { error: 'Validation failed: nope' }, times: 5 })
  for (let index = 0; index < 5; index++) await outbox.enqueue('acme', inputs(`c${index}`, 1)[0]!)
  await until(async () => (await outbox.outbox.stats()).dead === 5, 30_000, 'five dead')
  const first = await outbox.outbox.dead({ limit: 2 })
  t.equal(first.entries.length, 2)
  t.ok(first.cursor !== null)
  const second = await outbox.outbox.dead({ limit: 2, cursor: first.cursor })
  const third = await outbox.outbox.dead({ limit: 2, cursor: second.cursor })
  t.equal(third.entries.length, 1)
  t.equal(third.cursor, null, 'the last page says so')
  const all = [...first.entries, ...second.entries, ...third.entries].map((entry) => entry.id)
  t.equal(new Set(all).size, 5, 'each dead entry on one page')
  t.equal(await outbox.outbox.discard(all.slice(0, 3)), 3)
  t.equal(await outbox.outbox.discard(all.slice(0, 3)), 0, 'discarding again finds nothing')
  t.equal((await outbox.outbox.stats()).dead, 2)
})

test('a wrong token pauses the instance without a tight loop, until its settings change', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const instances = { acme: instanceOf(sim, account, { chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: 'wrong-token' } }) }
  const { app, outbox } = await outboxApp(t, { instances, outbox: { probeMs: 60_000 } })
  for (const input of inputs('alice', 3)) await outbox.enqueue('acme', input)
  for (const input of inputs('bob', 3)) await outbox.enqueue('acme', input)
  await until(async () => (await outbox.outbox.stats()).paused.length === 1, 30_000, 'the instance paused')
  const paused = (await outbox.outbox.stats()).paused[0]!
  t.match(paused, { instance: 'acme', code: 'FST_CHATWOOT_UNAUTHORIZED' })
  t.notMatch(JSON.stringify(await outbox.outbox.stats()), /wrong-token/, 'the token is nowhere in the stats')
  const before = sim.requests.length
  await new Promise((resolve) => setTimeout(resolve, 1000))
  // At most the attempts already under way in the 4 loops when the pause was stored; a tight loop makes dozens.
  t.ok(sim.requests.length - before <= 4, `no tight loop: ${sim.requests.length - before} requests in 1 s while paused`)

  instances.acme = instanceOf(sim, account)
  app.chatwootInstances.invalidate('acme')
  await until(async () => (await outbox.outbox.stats()).delivered === 6, 30_000, 'all delivered after the fix')
  t.same((await messagesOf(sim, account, 'alice')).map((m) => m.source_id), ['alice-0', 'alice-1', 'alice-2'])
  t.same((await outbox.outbox.stats()).paused, [], 'the pause is over')
})

test('fairness: one instance\'s backlog does not starve another (lanes round-robin across instances)', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const { outbox, databaseUrl } = await outboxApp(t, {
    instances: { big: instanceOf(sim, account), small: instanceOf(sim, other) },
    outbox: { concurrency: 1, worker: true }
  })
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  t.teardown(() => client.end())
  // One commit for all 44, so the worker finds the big backlog and the small one at once.
  await client.query('BEGIN')
  for (let contact = 0; contact < 4; contact++) for (const input of inputs(`big${contact}`, 10)) await outbox.enqueue('big', input, { db: client })
  for (const input of inputs('small', 4)) await outbox.enqueue('small', input, { db: client })
  await client.query('COMMIT')
  await until(async () => (await outbox.outbox.stats()).delivered === 44, 30_000, 'all delivered')
  const { rows } = await client.query(`SELECT instance, rank() OVER (ORDER BY delivered_at, id) AS rank
    FROM chatwoot_outbox.entries ORDER BY delivered_at, id`)
  const smallRanks = rows.filter((row) => row.instance === 'small').map((row) => Number(row.rank))
  t.ok(Math.max(...smallRanks) <= 9, `the small instance's 4 went out among the first 9 of 44 (ranks ${smallRanks.join(', ')})`)
})
