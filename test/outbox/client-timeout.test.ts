import pg from 'pg'
import { test } from 'tap'
import { simulatedAccount } from '../helpers/simulator.js'
import { QUICK_RETRY } from '../helpers/gateway.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

// A post starts only with one client timeout of lease ahead (a post that outlives its lease could be made
// twice). The timeout is the client's own, wherever it was set, not an outbox option to keep in step by hand.
async function queued (databaseUrl: string) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 })
  try {
    const { rows } = await pool.query<{ state: string }>('SELECT state FROM chatwoot_outbox.entries')
    return rows
  } finally {
    await pool.end()
  }
}

test('an attempt reads its client\'s real timeout: longer than the lease left, nothing is posted', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox, databaseUrl } = await outboxApp(t, {
    instances: { acme: instanceOf(sim, account) },
    // The outbox's own clientTimeoutMs says 500, the client says 3000: the client is right.
    client: { retry: QUICK_RETRY, timeoutMs: 3000 },
    outbox: { leaseMs: 2000, clientTimeoutMs: 500 }
  })
  await outbox.enqueue('acme', { contact: { identifier: 'alice' }, message: { content: 'hi', source_id: 'a1' } })
  await until(async () => outbox.outbox.counters().leaseLost > 0, 15_000, 'the attempt refused for its lease')
  t.same(await messagesOf(sim, account, 'alice'), [], 'nothing posted with less lease than one client timeout')
  t.same(await queued(databaseUrl), [{ state: 'queued' }], 'the entry waits, neither dead nor delivered')
})

test('an instance\'s own client timeout counts too, and within the lease the entry is delivered', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox } = await outboxApp(t, {
    instances: { acme: { ...instanceOf(sim, account), client: { timeoutMs: 400 } } },
    client: { retry: QUICK_RETRY, timeoutMs: 3000 },
    outbox: { leaseMs: 2000, clientTimeoutMs: 500 }
  })
  await outbox.enqueue('acme', { contact: { identifier: 'bob' }, message: { content: 'hi', source_id: 'b1' } })
  // The outcome is recorded just after the post lands: wait for the record, then check Chatwoot.
  await until(async () => (await outbox.outbox.stats()).delivered === 1, 15_000, 'delivered')
  t.equal((await messagesOf(sim, account, 'bob')).length, 1)
})
