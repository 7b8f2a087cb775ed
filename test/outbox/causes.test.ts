import pg from 'pg'
import { test } from 'tap'
import { take, WINDOW_MS } from '../../lib/outbox/budget.js'
import { migrate } from '../../lib/outbox/schema.js'
import { testDatabase } from '../helpers/app.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { holdingProxy } from './hold-proxy.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

const message = (identifier: string, sourceId: string) => ({ contact: { identifier, name: identifier }, message: { content: sourceId, source_id: sourceId } })

test('the request budget per origin is shared by every replica: past it, each is told how long to wait', async (t) => {
  const db = await testDatabase(t)
  const replicas = [new pg.Pool({ connectionString: db.url, max: 2 }), new pg.Pool({ connectionString: db.url, max: 2 })]
  t.teardown(() => Promise.all(replicas.map((pool) => pool.end())))
  await migrate(replicas[0]!, 'chatwoot_outbox')
  // 60 a minute is 10 a window: two replicas taking 6 each share those 10.
  const answers = await Promise.all(Array.from({ length: 12 }, (_, index) => take(replicas[index % 2]!, 'chatwoot_outbox', 'https://chat.example', 60)))
  const granted = answers.filter((answer) => answer.waitMs === 0).length
  const told = answers.filter((answer) => answer.waitMs > 0)
  // A window may turn over while they run; then a few more pass, never more than two windows' worth.
  t.ok(granted >= 10 && granted <= 12, `${granted} of 12 went within the budget`)
  t.ok(told.every((answer) => answer.waitMs <= WINDOW_MS), 'the others wait at most until the next window')
  const other = await take(replicas[0]!, 'chatwoot_outbox', 'https://other.example', 60)
  t.equal(other.waitMs, 0, 'another origin has a budget of its own')
})

test('a timeout (Chatwoot slower than the client) waits, checks, and never posts twice', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  // Chatwoot stores each post at once but answers 1.2 s late; the client gives up after 0.5 s.
  const proxy = await holdingProxy(sim.url, { releaseAfterMs: 1200 })
  t.teardown(() => proxy.close())
  const { outbox } = await outboxApp(t, {
    instances: { acme: instanceOf(sim, account, { chatwoot: { url: proxy.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token } }) },
    client: { timeoutMs: 500, retry: { maxRetries: 0 } },
    outbox: { slowChatwootMs: 1500, clientTimeoutMs: 500 }
  })
  for (let index = 0; index < 3; index++) await outbox.enqueue('acme', message('slow', `slow-${index}`))
  await until(async () => (await outbox.outbox.stats()).delivered === 3, 30_000, 'all three delivered')
  t.same((await messagesOf(sim, account, 'slow')).map((m) => m.source_id), ['slow-0', 'slow-1', 'slow-2'], '3 of 3 once, in order')
  t.ok(outbox.outbox.counters().deduplicated >= 1, `found stored after the timeout (${outbox.outbox.counters().deduplicated})`)
})

test('a paused instance is probed after probeMs and resumes without any change (a suspended account came back)', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, outbox: { probeMs: 800 } })
  sim.faults.add({ path: /\/contacts\/filter$/, status: 401, body: { error: 'Account is suspended' }, times: 1 })
  await outbox.enqueue('acme', message('alice', 'a1'))
  await until(async () => (await outbox.outbox.stats()).paused.length === 1, 30_000, 'paused')
  t.match((await outbox.outbox.stats()).paused[0], { code: 'FST_CHATWOOT_UNAUTHORIZED', reason: /Account is suspended/ })
  await until(async () => (await outbox.outbox.stats()).delivered === 1, 30_000, 'the probe went through')
  // The pause ends right after the probe's delivery is recorded.
  await until(async () => (await outbox.outbox.stats()).paused.length === 0, 5000, 'the pause ended')
  t.equal(outbox.outbox.counters().resumed, 1)
})

test('maxAge wins: the backlog of a paused instance is dead after maxAgeMs, with the reason', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const wrong = instanceOf(sim, account, { chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: 'wrong' } })
  const { outbox } = await outboxApp(t, { instances: { acme: wrong }, outbox: { maxAgeMs: 3000, probeMs: 60_000 } })
  await outbox.enqueue('acme', message('alice', 'a1'))
  await outbox.enqueue('acme', message('alice', 'a2'))
  await until(async () => (await outbox.outbox.stats()).dead === 2, 30_000, 'both dead')
  const { entries } = await outbox.outbox.dead()
  t.equal(entries.length, 2)
  for (const entry of entries) t.match(entry.reason, /^maxAge: not delivered within 3000 ms/)
  t.match(entries[0], { lastErrorCode: 'FST_CHATWOOT_UNAUTHORIZED', reason: /last failure FST_CHATWOOT_UNAUTHORIZED/ }, 'the attempted one keeps its last failure')
  t.match(entries[1], { lastErrorCode: null, reason: /never attempted/ }, 'the one behind it was never attempted (its instance was paused)')
  t.equal((await outbox.outbox.stats()).queued, 0)
})

test('422 "Too many messages": the lane waits until the conversation\'s minute window has room (read in its database), then posts; all delivered, paced',
  { timeout: 150_000 }, async (t) => {
    const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 3 })
    const { outbox } = await outboxApp(t, {
      instances: { acme: instanceOf(sim, account, { database: sim.databaseUrl }) },
      postgres: true
    })
    const started = Date.now()
    for (let index = 0; index < 5; index++) await outbox.enqueue('acme', message('flood', `flood-${index}`))
    await until(async () => (await messagesOf(sim, account, 'flood')).length === 3, 30_000, 'the first three posted at once')
    await until(async () => (await outbox.outbox.stats()).delivered === 5, 120_000, 'all five delivered')
    const elapsed = Date.now() - started
    t.same((await messagesOf(sim, account, 'flood')).map((m) => m.source_id), Array.from({ length: 5 }, (_, i) => `flood-${i}`), 'all once, in order')
    t.ok(elapsed >= 55_000, `paced by the window: ${elapsed} ms for 5 messages at 3 a minute`)
    const refused = sim.requests.filter((request) => request.status === 422).length
    t.ok(refused <= 3, `no storm of 422s: ${refused} refused posts`)
    t.comment(`5 messages at a limit of 3/minute: delivered in ${elapsed} ms with ${refused} refusals`)
  })
