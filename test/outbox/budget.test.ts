import pg from 'pg'
import { test } from 'tap'
import { batchOf, LocalBudget, perWindow, WINDOW_MS } from '../../lib/outbox/budget.js'
import { migrate } from '../../lib/outbox/schema.js'
import { testDatabase } from '../helpers/app.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres')

test('batched budgets: two replicas with 4 loops each spend exactly the window\'s share, a batch per statement', async (t) => {
  const db = await testDatabase(t)
  const pools = [new pg.Pool({ connectionString: db.url, max: 4 }), new pg.Pool({ connectionString: db.url, max: 4 })]
  t.teardown(() => Promise.all(pools.map((pool) => pool.end())))
  await migrate(pools[0]!, 'chatwoot_outbox')
  const requestsPerMinute = 960
  t.equal(perWindow(requestsPerMinute), 160)
  t.equal(batchOf(requestsPerMinute), 10)
  let statements = 0
  const budgets = pools.map((pool) => new LocalBudget({ query: (text, values) => { statements++; return pool.query(text, values) } }, 'chatwoot_outbox', requestsPerMinute))
  // Start early in a window (same machine, same clock as the database), so the takes below all fall in one.
  const into = Date.now() % WINDOW_MS
  if (into > WINDOW_MS / 2) await new Promise((resolve) => setTimeout(resolve, WINDOW_MS - into + 50))
  let granted = 0
  const waits: number[] = []
  await Promise.all(budgets.flatMap((budget) => Array.from({ length: 4 }, async () => {
    for (;;) {
      const waitMs = await budget.take('https://chat.example')
      if (waitMs > 0) return waits.push(waitMs)
      granted++
    }
  })))
  t.equal(granted, 160, 'every request of the window\'s share spent, none more, none lost between the loops')
  t.ok(statements <= 160 / 10 + 8, `${statements} statements for 160 requests`)
  t.ok(waits.every((waitMs) => waitMs <= WINDOW_MS), 'the refused wait at most until the next window')
})
