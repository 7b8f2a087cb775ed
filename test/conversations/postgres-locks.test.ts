import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { test } from 'tap'
import { PostgresLocks } from '../../lib/conversations/postgres-locks.js'
import { LOCK_SCHEMA_VERSION, migrateLocks } from '../../lib/conversations/postgres-locks-schema.js'
import { testDatabase } from '../helpers/app.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres')

const SCHEMA = 'fastify_chatwoot'

/** A pool on a fresh database of this test's own, ended at teardown (before the database is dropped). */
async function poolsOn (t: Parameters<typeof testDatabase>[0], count = 1): Promise<pg.Pool[]> {
  const db = await testDatabase(t)
  const pools = Array.from({ length: count }, () => new pg.Pool({ connectionString: db.url, max: 10 }))
  t.teardown(() => Promise.all(pools.map((pool) => pool.end())))
  return pools
}

test('the token owns the lock: another tryLock, a wrong token\'s unlock or extend change nothing', async (t) => {
  const [pool] = await poolsOn(t)
  const locks = new PostgresLocks(pool!, { schema: SCHEMA })
  const token = await locks.tryLock('k', 30_000)
  t.type(token, 'string', 'the first tryLock takes the lock')
  t.equal(await locks.tryLock('k', 30_000), undefined, 'a second tryLock is refused while it is held')
  t.type(await locks.tryLock('other', 30_000), 'string', 'another key is its own lock')

  await locks.unlock('k', 'not-the-token')
  t.equal(await locks.tryLock('k', 30_000), undefined, 'a wrong token\'s unlock left it held')
  t.equal(await locks.extendLock('k', 'not-the-token', 30_000), false, 'a wrong token cannot extend it')
  t.equal(await locks.extendLock('k', token!, 30_000), true, 'its holder extends it')

  await locks.unlock('k', token!)
  const { rows } = await pool!.query(`SELECT key FROM ${SCHEMA}.locks ORDER BY key`)
  t.same(rows.map((row) => row.key), ['other'], 'unlock deleted the row')
  t.type(await locks.tryLock('k', 30_000), 'string', 'free again once its holder unlocked')
})

test('expiry on the database\'s clock: held until the row expires whatever the process\'s clock says, then taken over', async (t) => {
  const [pool] = await poolsOn(t)
  const locks = new PostgresLocks(pool!, { schema: SCHEMA })
  const first = await locks.tryLock('k', 600)
  t.ok(first)
  const { rows } = await pool!.query<{ left: number }>(`SELECT extract(epoch FROM expires_at - now()) * 1000 AS left FROM ${SCHEMA}.locks`)
  t.ok(rows[0]!.left > 300 && rows[0]!.left <= 600, `the row expires ttl after the database's now (${Math.round(rows[0]!.left)} ms left)`)

  // A process whose clock runs an hour ahead would think every lock long expired: the database decides.
  const realNow = Date.now
  Date.now = () => realNow() + 3_600_000
  t.teardown(() => { Date.now = realNow })
  t.equal(await locks.tryLock('k', 600), undefined, 'still refused with the process\'s clock an hour ahead')
  Date.now = realNow

  await sleep(700)
  const second = await locks.tryLock('k', 30_000)
  t.ok(second !== undefined && second !== first, 'taken over with a new token once expired')
  t.equal(await locks.extendLock('k', first!, 30_000), false, 'the old holder can no longer extend it')
  await locks.unlock('k', first!)
  t.equal(await locks.tryLock('k', 30_000), undefined, 'the old holder\'s unlock did not free the new holder\'s lock')
  t.equal(await locks.extendLock('k', second!, 30_000), true, 'the new holder extends it')

  const short = await locks.tryLock('expired', 50)
  await sleep(150)
  t.equal(await locks.extendLock('expired', short!, 30_000), false, 'an expired lease is not extended, even by its holder')
})

test('50 concurrent tryLocks of one key from two pools: exactly one winner', async (t) => {
  const pools = await poolsOn(t, 2)
  const stores = pools.map((pool) => new PostgresLocks(pool, { schema: SCHEMA }))
  // Both migrate at once too: the advisory lock makes one wait for the other.
  await Promise.all(stores.map((store) => store.migrate()))
  for (let round = 0; round < 5; round++) {
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => stores[i % 2]!.tryLock(`key-${round}`, 30_000)))
    const won = tokens.filter((token) => token !== undefined)
    t.equal(won.length, 1, `round ${round}: one of 50 tryLocks won`)
  }
})

test('replicas migrating at once: no error, one table, the version recorded once', async (t) => {
  const pools = await poolsOn(t, 6)
  const outcomes = await Promise.all(pools.map((pool) => migrateLocks(pool, SCHEMA)))
  t.equal(outcomes.filter((outcome) => outcome.from === 0).length, 1, 'one replica created the table')
  t.ok(outcomes.every((outcome) => outcome.to === LOCK_SCHEMA_VERSION), 'every replica sees the current version')
  const { rows } = await pools[0]!.query(`SELECT version FROM ${SCHEMA}.locks_meta`)
  t.same(rows, [{ version: LOCK_SCHEMA_VERSION }])
})

test('expired rows are pruned in bounded batches; live locks stay', async (t) => {
  const [pool] = await poolsOn(t)
  // pruneIntervalMs so long that, after the background prune the first tryLock starts, only the explicit
  // prune() runs. That first one gets 100 ms while nothing has expired (on a loaded machine, run late, it
  // deleted some of the expired rows this test counts).
  const locks = new PostgresLocks(pool!, { schema: SCHEMA, pruneIntervalMs: 3_600_000 })
  t.ok(await locks.tryLock('first', 30_000), 'the first is taken')
  await sleep(100)
  for (let i = 0; i < 24; i++) await locks.tryLock(`dead-${i}`, 10)
  const live = await locks.tryLock('live', 30_000)
  await sleep(100)
  t.equal(await locks.prune(10), 10, 'one batch deletes at most its limit')
  t.equal(await locks.prune(100), 14, 'the next deletes the rest of the expired rows')
  t.equal(await locks.prune(100), 0, 'nothing expired is left')
  const { rows } = await pool!.query(`SELECT key FROM ${SCHEMA}.locks ORDER BY key`)
  t.same(rows, [{ key: 'first' }, { key: 'live' }], 'the live locks are kept')
  t.equal(await locks.extendLock('live', live!, 30_000), true, 'and still owned by its holder')
})

test('tryLock prunes now and then in the background', async (t) => {
  const [pool] = await poolsOn(t)
  const locks = new PostgresLocks(pool!, { schema: SCHEMA, pruneIntervalMs: 50 })
  for (let i = 0; i < 5; i++) await locks.tryLock(`dead-${i}`, 10)
  await sleep(100)
  await locks.tryLock('trigger', 30_000)
  let left = Infinity
  for (let i = 0; i < 40 && left > 1; i++) {
    await sleep(25)
    left = Number((await pool!.query(`SELECT count(*) FROM ${SCHEMA}.locks`)).rows[0].count)
  }
  t.equal(left, 1, 'the expired rows went; only the live lock is left')
})

test('a lock taken after its caller gave up is given back at once', async (t) => {
  const [pool] = await poolsOn(t)
  const locks = new PostgresLocks(pool!, { schema: SCHEMA })
  const abandoned = new AbortController()
  abandoned.abort()
  t.equal(await locks.tryLock('k', 30_000, abandoned.signal), undefined, 'the caller is not handed the token')
  t.type(await locks.tryLock('k', 30_000), 'string', 'the next worker takes it without waiting out the ttl')
})
