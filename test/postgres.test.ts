import fastifyPostgres from '@fastify/postgres'
import Fastify, { type FastifyInstance } from 'fastify'
import pg from 'pg'
import { type Test, test } from 'tap'
import { chatwootInstances, type InstanceConfig, instancePostgres, type InstancePostgresOptions } from '../lib/index.js'
import { admin, appWithLogs, connectionsTo, settlesTo, testDatabase } from './helpers/app.js'
import { gateway } from './helpers/gateway.js'
import { serverUrl } from '../lib/testing/index.js'

type Databases = Record<string, InstanceConfig['database']>

/** The database a query ran in: proves the call reached the intended database, not only that it resolved. */
const dbOf = (result: { rows: Array<{ db: string }> }) => result.rows.map((row) => row.db)

function instanceConfig (database: InstanceConfig['database']): InstanceConfig {
  return { chatwoot: { url: 'http://127.0.0.1:1', accountId: 1, inboxId: 1, token: 'token' }, database }
}

/** An app with both plugins; `databases` is the host's store and may be changed by the test. */
async function build (t: Test, databases: Databases, options: InstancePostgresOptions = {}, app?: FastifyInstance) {
  const built = await gateway(t, {
    ...(app === undefined ? {} : { app }),
    resolve: (name) => (name in databases ? instanceConfig(databases[name]) : undefined),
    instancesTtlMs: 0,
    postgres: options,
    redis: false,
    client: false,
    conversations: false
  })
  return { app: built.app, calls: { get resolve () { return built.resolved.length } } }
}

test('nothing connects at registration; 100 concurrent first queries share one pool', async (t) => {
  const db = await testDatabase(t)
  const { app, calls } = await build(t, { acme: db.url })
  t.equal(await connectionsTo(db.name), 0, 'no connection before first use')
  t.equal(calls.resolve, 0, 'no resolve before first use')

  const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    app.instancePg.query<{ n: number }>('acme', 'select $1::int as n', [i])))
  t.same(results.map((r) => r.rows[0]?.n), Array.from({ length: 100 }, (_, i) => i), 'every query answered')
  t.equal(app.instancePg.stats().created, 1, 'exactly one pool created')
  t.equal(calls.resolve, 1, 'settings resolved once')
  t.ok(await connectionsTo(db.name) <= 5, 'never more connections than the pool max (5)')

  await app.instancePg.query('acme', 'select 1')
  t.equal(calls.resolve, 1, 'a later use is a map lookup, no resolve')
  t.equal(await app.instancePg.pool('acme'), await app.instancePg.pool('acme'), 'pool(name) gives the same pool')
})

test('changed settings give a new pool and the old pool\'s connections close', async (t) => {
  const first = await testDatabase(t)
  const second = await testDatabase(t)
  const databases: Databases = { acme: first.url }
  const { app } = await build(t, databases)

  // Several at once, so the old pool holds more than one connection.
  await Promise.all(Array.from({ length: 5 }, () => app.instancePg.query('acme', 'select pg_sleep(0.05)')))
  t.ok(await connectionsTo(first.name) > 1, 'the first pool holds connections')

  databases.acme = second.url
  app.chatwootInstances.invalidate('acme')
  const { rows } = await app.instancePg.query<{ db: string }>('acme', 'select current_database() as db')
  t.equal(rows[0]?.db, second.name, 'the next use reaches the new database')
  t.equal(await settlesTo(() => connectionsTo(first.name), 0), 0, 'every connection of the old pool closed')
  t.match(app.instancePg.stats(), { pools: 1, created: 2, evicted: 1 })
})

test('rotation is noticed without invalidate once revalidateMs has passed', async (t) => {
  const first = await testDatabase(t)
  const second = await testDatabase(t)
  const databases: Databases = { acme: first.url }
  const { app } = await build(t, databases, { revalidateMs: 50 })
  await app.instancePg.query('acme', 'select 1')
  databases.acme = second.url
  await new Promise((resolve) => setTimeout(resolve, 80))
  const { rows } = await app.instancePg.query<{ db: string }>('acme', 'select current_database() as db')
  t.equal(rows[0]?.db, second.name)
  t.equal(await settlesTo(() => connectionsTo(first.name), 0), 0, 'the old pool was ended')

  await new Promise((resolve) => setTimeout(resolve, 80))
  await app.instancePg.query('acme', 'select 1')
  t.equal(app.instancePg.stats().created, 2, 'the same settings re-resolved keep the same pool')
})

test('queries queued on a replaced pool are served, not stranded', async (t) => {
  const first = await testDatabase(t)
  const second = await testDatabase(t)
  const databases: Databases = { acme: first.url }
  const { app } = await build(t, databases, { pool: { max: 1, connectionTimeoutMillis: 10_000 } })
  await app.instancePg.query('acme', 'select 1')
  const queued = Array.from({ length: 5 }, () => app.instancePg.query('acme', 'select pg_sleep(0.05)'))
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(app.instancePg.stats().waiting >= 3, 'queries are waiting for the single connection')

  databases.acme = second.url
  app.chatwootInstances.invalidate('acme')
  await app.instancePg.query('acme', 'select 1')
  const started = Date.now()
  await Promise.all(queued)
  t.ok(Date.now() - started < 5000, 'the queued queries finished on the old pool before it ended')
  t.equal(await settlesTo(() => connectionsTo(first.name), 0), 0)
})

test('60 names with maxPools 10 never hold more than 10 pools, and evicted pools close', async (t) => {
  const db = await testDatabase(t)
  const databases: Databases = {}
  // Distinct settings per name (its own application_name), so each name needs its own pool.
  for (let i = 0; i < 60; i++) databases[`tenant-${i}`] = { connectionString: db.url, application_name: `fcw-tenant-${i}` }
  const { app } = await build(t, databases, { maxPools: 10, pool: { max: 2 } })

  let mostPools = 0
  const names = Object.keys(databases)
  // Six workers at a time, so creations and evictions overlap.
  await Promise.all(Array.from({ length: 6 }, async (_, worker) => {
    for (let i = worker; i < names.length; i += 6) {
      await app.instancePg.query(names[i] as string, 'select 1')
      mostPools = Math.max(mostPools, app.instancePg.stats().pools)
    }
  }))
  t.ok(mostPools <= 10, `at most 10 pools at any time (saw ${mostPools})`)
  t.match(app.instancePg.stats(), { pools: 10, created: 60, evicted: 50 })
  t.ok(await settlesTo(() => connectionsTo(db.name).then((n) => n <= 10 * 2), true), 'evicted pools closed their connections')

  const open = await admin<{ name: string }>(
    'select distinct application_name as name from pg_stat_activity where datname = $1', [db.name])
  t.equal(open.length, 10, 'connections remain for exactly 10 pools')
})

test('instances with the same settings share one pool', async (t) => {
  const db = await testDatabase(t)
  const { app } = await build(t, { a: db.url, b: db.url, c: { connectionString: db.url } })
  await Promise.all(['a', 'b', 'c', 'a'].map((name) => app.instancePg.query(name, 'select 1')))
  t.equal(app.instancePg.stats().created, 1)
  t.equal(await app.instancePg.pool('a'), await app.instancePg.pool('c'))

  await app.instancePg.evict('a')
  t.equal(app.instancePg.stats().evicted, 0, 'evicting one name keeps a pool other names use')
  await app.instancePg.evict('b')
  await app.instancePg.evict('c')
  t.match(app.instancePg.stats(), { pools: 0, evicted: 1 })
  t.equal(await settlesTo(() => connectionsTo(db.name), 0), 0, 'the last evict ends the pool')
})

test('a wrong database fails with the server\'s reason, no password, and is retried on the next call', async (t) => {
  const password = 'pw-DO-NOT-LOG-42'
  const missing = `fcw_missing_${process.pid}_${Date.now()}`
  const { app, calls } = await build(t, { acme: `postgres://postgres:${password}@127.0.0.1:5432/${missing}` })
  const error = await app.instancePg.query('acme', 'select 1').catch((e: unknown) => e) as Error & Record<string, unknown>
  t.equal(error.code, 'FST_CHATWOOT_PG_CONNECT')
  t.match(error.message, `database "${missing}" does not exist`, 'the server\'s reason')
  t.match(error.message, 'postgres://postgres:***@127.0.0.1:5432/', 'the target, password masked')
  t.equal(error.sqlState, '3D000')
  t.equal(error.instance, 'acme')
  for (const text of [error.message, String(error.stack), JSON.stringify(error), String((error.cause as Error)?.message)]) {
    t.notMatch(text, password, 'the password appears nowhere')
  }
  t.equal(app.instancePg.stats().pools, 0, 'the failed pool was dropped')

  await admin(`CREATE DATABASE ${missing}`)
  t.teardown(() => admin(`DROP DATABASE IF EXISTS ${missing} WITH (FORCE)`))
  t.same(dbOf(await app.instancePg.query('acme', 'select current_database() as db')), [missing], 'once the database exists the next call connects to it')
  t.equal(calls.resolve, 2)
})

test('a terminated connection is logged, never crashes the process, and the next query works', async (t) => {
  const db = await testDatabase(t)
  const { app: logged, logs } = appWithLogs()
  const { app } = await build(t, { acme: db.url }, {}, logged)
  const { rows } = await app.instancePg.query<{ pid: number }>('acme', 'select pg_backend_pid() as pid')
  await admin('select pg_terminate_backend($1)', [rows[0]?.pid])
  await logs.waitFor(/idle Postgres connection failed/)
  const after = await app.instancePg.query<{ pid: number }>('acme', 'select pg_backend_pid() as pid')
  t.not(after.rows[0]?.pid, rows[0]?.pid, 'served by a new connection')

  // Now while a transaction holds the connection and waits on something else.
  const transaction = app.instancePg.transact('acme', async (client) => {
    const { rows: [own] } = await client.query<{ pid: number }>('select pg_backend_pid() as pid')
    await admin('select pg_terminate_backend($1)', [own?.pid])
    await logs.waitFor(/connection lost during a transaction/)
    await client.query('select 1')
  })
  await t.rejects(transaction, 'the transaction fails')
  t.same(dbOf(await app.instancePg.query('acme', 'select current_database() as db')), [db.name], 'and the next query works')
  t.equal(app.instancePg.stats().totalConnections, app.instancePg.stats().idleConnections, 'nothing left checked out')
})

test('transact commits, rolls back, and always releases the client', async (t) => {
  const db = await testDatabase(t)
  const { app } = await build(t, { acme: db.url })
  await app.instancePg.query('acme', 'create table notes (body text primary key)')

  const answer = await app.instancePg.transact('acme', async (client) => {
    await client.query("insert into notes values ('kept')")
    return 'done'
  })
  t.equal(answer, 'done')
  await t.rejects(app.instancePg.transact('acme', async (client) => {
    await client.query("insert into notes values ('dropped')")
    throw new Error('changed my mind')
  }), { message: 'changed my mind' })
  await t.rejects(app.instancePg.transact('acme', async (client) => {
    await client.query("insert into notes values ('kept')")
  }), { code: '23505' }, 'a failing statement rolls back too')

  const { rows } = await app.instancePg.query<{ body: string }>('acme', 'select body from notes order by body')
  t.same(rows.map((r) => r.body), ['kept'])
  const stats = app.instancePg.stats()
  t.equal(stats.totalConnections, stats.idleConnections, 'every client went back to the pool')

  await t.rejects(app.instancePg.query('acme', 'select * from missing_table'), { code: '42P01' }, 'SQL errors pass through with their SQLSTATE')
  const { rows: [{ n } = { n: 0 }] } = await app.instancePg.query<{ n: number }>('acme', 'select 1 as n')
  t.equal(n, 1, 'a statement error leaves the pool usable')
})

test('pools idle longer than idleTimeoutMs are ended', async (t) => {
  const db = await testDatabase(t)
  const { app } = await build(t, { acme: db.url }, { idleTimeoutMs: 100 })
  await app.instancePg.query('acme', 'select 1')
  t.equal(await settlesTo(async () => app.instancePg.stats().pools, 0, 4000), 0, 'the idle pool was ended')
  t.equal(await settlesTo(() => connectionsTo(db.name), 0), 0)
  t.same(dbOf(await app.instancePg.query('acme', 'select current_database() as db')), [db.name], 'and is made again on the next use')
  t.equal(app.instancePg.stats().pools, 1)
})

test('fastify.close() leaves no connection of ours open, and ends only pools it created', async (t) => {
  const ours = await testDatabase(t)
  const theirs = await testDatabase(t)
  const userPool = new pg.Pool({ connectionString: theirs.url, max: 2 })
  t.teardown(() => userPool.end())
  const app = Fastify()
  await app.register(instancePostgres, { resolve: (name) => (name === 'mine' ? ours.url : userPool) })
  await app.ready()

  await Promise.all([app.instancePg.query('mine', 'select 1'), app.instancePg.query('yours', 'select 1')])
  t.equal(app.instancePg.stats().pools, 1, 'a pool passed in is not counted as created')
  await app.close()

  t.equal(await settlesTo(() => connectionsTo(ours.name), 0), 0, 'no connection of ours remains')
  t.same(dbOf(await userPool.query('select current_database() as db')), [theirs.name], 'the user\'s pool was not ended')
  await t.rejects(app.instancePg.query('mine', 'select 1'), { code: 'FST_CHATWOOT_PG_CLOSED' })
})

test('an instance without a database falls back to @fastify/postgres, or is NOT_CONFIGURED', async (t) => {
  const db = await testDatabase(t)
  const withPg = Fastify()
  await withPg.register(fastifyPostgres, { connectionString: db.url })
  const { app } = await build(t, { plain: undefined }, {}, withPg)
  const { rows } = await app.instancePg.query<{ db: string }>('plain', 'select current_database() as db')
  t.equal(rows[0]?.db, db.name, 'served by fastify.pg')
  t.equal(app.instancePg.stats().created, 0, 'no pool of ours was made for it')

  const { app: bare } = await build(t, { plain: undefined })
  await t.rejects(bare.instancePg.query('plain', 'select 1'), { code: 'FST_CHATWOOT_PG_NOT_CONFIGURED' })
  await t.rejects(bare.instancePg.query('ghost', 'select 1'), { code: 'FST_CHATWOOT_INSTANCE_NOT_FOUND' })
})

test('a bad instance name never reaches resolve', async (t) => {
  let calls = 0
  const app = Fastify()
  await app.register(instancePostgres, { resolve: () => { calls++; return 'postgres://127.0.0.1/postgres' } })
  t.teardown(() => app.close())
  for (const name of ['', 'a:*', '{x}', 'a b', 'x'.repeat(10_240), 7, null]) {
    await t.rejects(app.instancePg.query(name as string, 'select 1'), { code: 'FST_CHATWOOT_INSTANCE_NAME_INVALID' })
    await t.rejects(app.instancePg.transact(name as string, async () => {}), { code: 'FST_CHATWOOT_INSTANCE_NAME_INVALID' })
    await t.rejects(app.instancePg.evict(name as string), { code: 'FST_CHATWOOT_INSTANCE_NAME_INVALID' })
  }
  t.equal(calls, 0)
})

test('options are checked at registration', async (t) => {
  const cases: unknown[] = [{}, { resolve: () => undefined, maxPools: 0 }, { resolve: () => undefined, maxPools: 1.5 },
    { resolve: () => undefined, idleTimeoutMs: -1 }, { resolve: () => undefined, revalidateMs: 'soon' }]
  for (const options of cases) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(instancePostgres, options as never).ready() }, { code: 'FST_CHATWOOT_OPTIONS_INVALID' })
    await app.close()
  }
})

test('a pool evicted while callers were opening it is never handed out ended', async (t) => {
  const db = await testDatabase(t)
  const databases: Databases = {}
  for (let i = 0; i < 4; i++) databases[`tenant-${i}`] = { connectionString: db.url, application_name: `fcw-race-${i}` }
  // One pool for four busy names: every creation evicts a pool other callers are about to use.
  const { app } = await build(t, databases, { maxPools: 1, pool: { max: 2 } })
  const names = Object.keys(databases)
  const work = Array.from({ length: 40 }, (_, i) => {
    const name = names[i % names.length] as string
    return i % 2 === 0
      ? app.instancePg.query(name, 'select 1')
      : app.instancePg.transact(name, (client) => client.query('select 1'))
  })
  const results = await Promise.allSettled(work)
  const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))
  t.same(failures, [], 'every call succeeded')
  t.ok(app.instancePg.stats().pools <= 1)
})

test('close() during a first connection waits for it and ends that pool too', async (t) => {
  const db = await testDatabase(t)
  const app = Fastify()
  await app.register(instancePostgres, { resolve: () => db.url })
  await app.ready()
  const opening = app.instancePg.query('acme', 'select 1')
  await new Promise((resolve) => setImmediate(resolve))
  await app.close()
  await t.rejects(opening, { code: 'FST_CHATWOOT_PG_CLOSED' }, 'the query that raced close() is refused')
  t.equal(app.instancePg.stats().totalConnections, 0, 'nothing of ours is open or draining when close() resolves')
  t.equal(await settlesTo(() => connectionsTo(db.name), 0), 0)
})

test('pools() lists each open pool with its instances, its connections, and no password', async (t) => {
  const [one, two] = await Promise.all([testDatabase(t), testDatabase(t)])
  const role = `fcw_pw_${process.pid}_${Date.now()}`
  await admin(`CREATE ROLE ${role} LOGIN PASSWORD 'hunter2-secret'`)
  t.teardown(() => admin(`DROP ROLE IF EXISTS ${role}`))
  const withPassword = new URL(two.url)
  withPassword.username = role
  withPassword.password = 'hunter2-secret'
  const { app } = await build(t, { acme: one.url, globex: one.url, initech: withPassword.toString() })
  t.same(app.instancePg.pools(), [], 'nothing before first use')

  await Promise.all(['acme', 'globex', 'initech'].map((name) => app.instancePg.query(name, 'select 1')))
  const pools = app.instancePg.pools()
  t.equal(pools.length, 2, 'acme and globex share one pool')
  const shared = pools.find((pool) => pool.instances.includes('acme'))
  t.same(shared?.instances.sort(), ['acme', 'globex'])
  t.match(shared, { totalConnections: Number, idleConnections: Number, waiting: 0, idleForMs: Number })
  t.ok((shared?.totalConnections ?? 0) >= 1, 'a connection was made')
  const own = pools.find((pool) => pool.instances.includes('initech'))
  t.match(own?.target, new RegExp(`${role}:\\*\\*\\*@`), 'the password is masked')
  t.notMatch(JSON.stringify(pools), /hunter2/, 'no password anywhere')

  await app.instancePg.evict('initech')
  t.same(app.instancePg.pools().map((pool) => pool.instances.sort()), [['acme', 'globex']], 'an evicted pool is gone from the list')
})

test('close() resolves once every connection has left the server, and maxPools holds while many pools open at once', async (t) => {
  const db = await testDatabase(t)
  const databases: Databases = {}
  for (let i = 0; i < 24; i++) databases[`tenant-${i}`] = { connectionString: db.url, application_name: `fcw-close-${i}` }
  const app = Fastify()
  await app.register(chatwootInstances, { resolve: (name) => (name in databases ? instanceConfig(databases[name]) : undefined) })
  await app.register(instancePostgres, { maxPools: 6, pool: { max: 2 } })
  await app.ready()

  // 24 instances opening at once, two connections each: unless room is made first, and the
  // pools given up have really closed, the server sees far more than 6 x 2.
  const observer = new pg.Client({ connectionString: serverUrl() })
  await observer.connect()
  t.teardown(() => observer.end())
  let peak = 0
  const run = { sampling: true }
  const sampler = (async () => {
    while (run.sampling) {
      const { rows } = await observer.query("select count(*)::int as n from pg_stat_activity where datname = $1 and application_name like 'fcw-close-%'", [db.name])
      peak = Math.max(peak, rows[0].n)
    }
  })()
  await Promise.all(Object.keys(databases).flatMap((name) => [
    app.instancePg.query(name, 'select pg_sleep(0.02)'), app.instancePg.query(name, 'select pg_sleep(0.02)')
  ]))
  run.sampling = false
  await sampler
  t.ok(app.instancePg.stats().pools <= 6, `${app.instancePg.stats().pools} pools open`)
  t.ok(await connectionsTo(db.name) > 0, 'connections are open before close()')

  await app.close()
  t.equal(await connectionsTo(db.name), 0, 'none left on the server the moment close() resolved')
  t.equal(app.instancePg.stats().totalConnections, 0)
  t.ok(peak > 0 && peak <= 12, `the server saw at most maxPools x max connections of ours at once (peak ${peak})`)
})
