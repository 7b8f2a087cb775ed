import { test } from 'tap'
import { startEmbeddedPostgres } from '../../lib/testing/index.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

// The demo and `npm start` keep the outbox on embedded PGlite: one transaction at a time, no NOTIFY.
test('the outbox migrates, enqueues and delivers on embedded PGlite', { timeout: 60_000 }, async (t) => {
  const embedded = await startEmbeddedPostgres()
  const { sim, account } = await simulatedAccount(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, databaseUrl: embedded.url })
  // Registered after the app's teardown, so it runs after the app closed and its workers stopped.
  t.teardown(() => embedded.close())
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500, times: 2 })
  for (let index = 0; index < 6; index++) {
    const identifier = `p${index % 2}`
    await outbox.enqueue('acme', { contact: { identifier }, message: { content: `m${index}`, source_id: `m${index}` } })
  }
  await until(async () => (await outbox.outbox.stats()).delivered === 6, 30_000, 'all delivered')
  t.same((await messagesOf(sim, account, 'p0')).map((m) => m.source_id), ['m0', 'm2', 'm4'])
  t.same((await messagesOf(sim, account, 'p1')).map((m) => m.source_id), ['m1', 'm3', 'm5'])
})
