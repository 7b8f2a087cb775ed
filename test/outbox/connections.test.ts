import { test } from 'tap'
import { admin } from '../helpers/app.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

test('the outbox\'s own pool outlives its connections being killed: logged, not a crash, and it goes on', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox, databaseUrl } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) } })
  await outbox.enqueue('acme', { contact: { identifier: 'ana' }, message: { content: 'one', source_id: 'c1' } })
  await until(async () => (await messagesOf(sim, account, 'ana')).length === 1, 15_000, 'the first delivered')
  const database = new URL(databaseUrl).pathname.slice(1)
  // What a Postgres restart or an administrator does to idle connections: without a listener on the pool,
  // the error they emit is uncaught and ends the process (this test file would fail with it).
  const killed = await admin<{ n: number }>(
    'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = \'fastify-chatwoot-outbox\'', [database])
  t.ok(killed[0]!.n > 0, `${killed[0]!.n} outbox connection(s) killed`)
  await outbox.enqueue('acme', { contact: { identifier: 'ana' }, message: { content: 'two', source_id: 'c2' } })
  await until(async () => (await messagesOf(sim, account, 'ana')).length === 2, 15_000, 'the second delivered on new connections')
  t.same((await messagesOf(sim, account, 'ana')).map((m) => m.source_id), ['c1', 'c2'])
})
