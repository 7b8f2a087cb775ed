import fastifyPostgres from '@fastify/postgres'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'
import { test } from 'tap'
import fastifyChatwoot from '../../lib/index.js'
import { appWithLogs, connectionsTo, settlesTo, testDatabase } from '../helpers/app.js'
import { gateway, instanceOf } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'
import { deadPort } from './fixtures/dead-port.js'

usesServers('postgres', 'redis')

const WARN = 40

/** An ioredis client on a port nothing listens on, disconnected at teardown. */
async function downRedis (t: { teardown: (fn: () => unknown) => void }): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: await deadPort(), retryStrategy: () => 100 })
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  return redis
}

/** Statements the pool ran (a real pool; only counted). */
function counting (pool: pg.Pool): { pool: pg.Pool, statements: () => number } {
  let statements = 0
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown
  ;(pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    statements++
    return query(...args)
  }
  return { pool, statements: () => statements }
}

const lockTable = async (url: string) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query("SELECT to_regclass('fastify_chatwoot.locks') IS NOT NULL AS present")
    return rows[0].present as boolean
  } finally {
    await client.end()
  }
}

test('Redis healthy: the Postgres lock store is never asked, cold or warm', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const db = await testDatabase(t)
  const { pool, statements } = counting(new pg.Pool({ connectionString: db.url }))
  t.teardown(() => pool.end())
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { postgres: pool } })
  t.ok(await lockTable(db.url), 'the lock table was created at registration')
  const before = statements()
  for (let i = 0; i < 3; i++) {
    await app.chatwoot.deliver('acme', { contact: { identifier: 'ana' }, message: { content: `m${i}`, source_id: `m${i}` } })
  }
  t.equal(app.chatwoot.stats().creates, 1, 'one get-or-create (under the Redis lock), then cache hits')
  // The one statement is the identity map's, reading back the new id Redis does not know (docs/identity.md).
  t.equal(statements() - before, 1, 'no lock statement on a healthy Redis: one read of the new id\'s links, cold only')
  await app.close()
  t.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1, 'a pool of the host\'s is left open at close')
})

test('Redis down: the get-or-create lock is taken in Postgres; the warning says so', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const db = await testDatabase(t)
  const { pool, statements } = counting(new pg.Pool({ connectionString: db.url }))
  t.teardown(() => pool.end())
  const { app, logs } = appWithLogs()
  const redis = await downRedis(t)
  await gateway(t, { app, redis: false, instances: { acme: instanceOf(sim, account) }, conversations: { redis, postgres: pool } })
  const before = statements()
  const result = await app.chatwoot.deliver('acme', { contact: { identifier: 'ana' }, message: { content: 'hi', source_id: 's1' } })
  t.ok(result.conversationId > 0, 'delivered')
  t.ok(statements() - before >= 2, `the lock was taken and given back in Postgres (${statements() - before} statements)`)
  t.equal((await pool.query('SELECT count(*)::int AS n FROM fastify_chatwoot.locks')).rows[0].n, 0, 'no lock row is left behind')
  await logs.waitFor(/Redis unavailable: deliveries go on without the shared cache; the get-or-create lock is taken in Postgres/)
})

test('no Redis, a connection string: the pool made on it is used, then ended at close', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const db = await testDatabase(t)
  const { app } = await gateway(t, { redis: false, instances: { acme: instanceOf(sim, account) }, conversations: { redis: false, postgres: db.url } })
  await app.chatwoot.deliver('acme', { contact: { identifier: 'ana' }, message: { content: 'hi', source_id: 's1' } })
  t.ok(await connectionsTo(db.name, 'fastify-chatwoot-locks') > 0, 'the lock store connected with its own pool')
  await app.close()
  t.equal(await settlesTo(() => connectionsTo(db.name, 'fastify-chatwoot-locks'), 0), 0, 'and ended it at close')
})

test('Redis and Postgres both down: deliveries go on with the in-process lock; one warning each, failures counted', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app, logs } = appWithLogs()
  const redis = await downRedis(t)
  const postgres = `postgres://postgres@127.0.0.1:${await deadPort()}/postgres`
  await gateway(t, { app, redis: false, instances: { acme: instanceOf(sim, account) }, conversations: { redis, postgres } })
  t.ok(logs.lines.some((line) => /lock store: its table could not be created yet/.test(line)), 'registration went on without the table, with a warning')
  const results = await Promise.all(['a', 'b', 'c'].map((identifier, i) =>
    app.chatwoot.deliver('acme', { contact: { identifier }, message: { content: 'hi', source_id: `s${i}` } })))
  t.equal(results.length, 3, 'every delivery resolved')
  const warnings = logs.lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === WARN && /Postgres lock store unavailable/.test(entry.msg))
  t.equal(warnings.length, 1, 'the Postgres outage is logged once')
  t.notOk(logs.lines.some((line) => line.includes(postgres)), 'the connection string is never logged')
  t.ok(app.chatwoot.stats().storeErrors >= 1, `counted in stats().storeErrors (${app.chatwoot.stats().storeErrors})`)
})

test('options: a wrong postgres or postgresSchema is refused with its code, the value not shown', async (t) => {
  for (const [conversations, message] of [
    [{ postgres: 'mysql://root:secret@db/x' }, /option "postgres" must be a pg.Pool, a postgres:\/\/ connection string or false, got a string that is not one/],
    [{ postgres: 42 }, /option "postgres" must be .* got number/],
    [{ postgresSchema: 'Bad-Name' }, /option "postgresSchema" must be a lowercase SQL identifier/],
    [{ postgresTimeoutMs: 0 }, /option "postgresTimeoutMs" must be a number of milliseconds > 0/]
  ] as const) {
    const app = Fastify()
    const error = await app.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false, conversations: conversations as never })
      .ready().then(() => undefined, (e: Error & { code?: string }) => e)
    t.equal(error?.code, 'FST_CHATWOOT_OPTIONS_INVALID', JSON.stringify(conversations))
    t.match(error?.message, message)
    t.notOk(error?.message.includes('secret'), 'the connection string is not shown')
    await app.close()
  }
})

test('defaults: @fastify/postgres\' pool when registered; the umbrella hands the outbox\'s storage over; false for none', async (t) => {
  const host = await testDatabase(t)
  const outbox = await testDatabase(t)
  const none = await testDatabase(t)
  const build = async (databaseUrl: string | undefined, options: object) => {
    const app = Fastify()
    t.teardown(() => app.close())
    if (databaseUrl !== undefined) await app.register(fastifyPostgres, { connectionString: databaseUrl })
    await app.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false, ...options })
    await app.ready()
    return app
  }
  await build(host.url, { conversations: { redis: false } })
  t.ok(await lockTable(host.url), 'fastify.pg\'s database got the lock table')
  await build(undefined, { conversations: { redis: false }, outbox: { connectionString: outbox.url, worker: false } })
  t.ok(await lockTable(outbox.url), 'the outbox\'s database got the lock table')
  await build(none.url, { conversations: { redis: false, postgres: false } })
  t.notOk(await lockTable(none.url), 'postgres: false: no table')
})
