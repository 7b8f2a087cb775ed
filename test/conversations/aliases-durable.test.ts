import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { type Test, test } from 'tap'
import { OutageGuard } from '../../lib/conversations/guarded-store.js'
import { PostgresLinks } from '../../lib/conversations/identity-links-postgres.js'
import { IdentityMap } from '../../lib/conversations/identity-map.js'
import { migrateLocks } from '../../lib/conversations/postgres-locks-schema.js'
import type { DeliveryContact } from '../../lib/index.js'
import { testDatabase } from '../helpers/app.js'
import { deleteKeys, gateway, instanceOf, REDIS_URL } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

const SCHEMA = 'fastify_chatwoot'
const LID = '104612345678901@lid'
const PHONE = '5511999990001@s.whatsapp.net'

/** A real pool on a fresh database, migrated, whose statements are counted (only counted). */
async function countedPool (t: Test): Promise<{ pool: pg.Pool, statements: () => number }> {
  const db = await testDatabase(t)
  const pool = new pg.Pool({ connectionString: db.url, max: 10 })
  // The database is dropped at teardown with its connections: an idle one's error is expected then.
  pool.on('error', () => {})
  t.teardown(() => pool.end())
  await migrateLocks(pool, SCHEMA)
  let statements = 0
  // The plugin and the map get a view of the real pool whose query() is counted on the way through.
  const counted = new Proxy(pool, {
    get (target, key) {
      const value: unknown = Reflect.get(target, key, target)
      if (typeof value !== 'function') return value
      return key === 'query' ? (...args: unknown[]) => { statements++; return value.apply(target, args) } : value.bind(target)
    }
  })
  return { pool: counted, statements: () => statements }
}

const quiet = { failed () {}, down () {}, up () {} }
const durableOn = (pool: pg.Pool) =>
  new PostgresLinks(pool, SCHEMA, new OutageGuard({ ready: () => true, timeoutMs: 5000, health: quiet }), async () => {})

/** An identity map as one process of the plugin has it: its own Redis client, the shared Postgres. */
function processMap (t: Test, keyPrefix: string, pool: pg.Pool): IdentityMap {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  return new IdentityMap({ redis, keyPrefix, maxEntries: 100, localTtlMs: 60_000, guard: (call) => call(), announce: async () => {}, durable: durableOn(pool) })
}

const rows = async (pool: pg.Pool) =>
  (await pool.query<{ id: string, canonical: string }>(`SELECT id, canonical FROM ${SCHEMA}.identity_links ORDER BY id`)).rows

test('link_identities: links racing from two pools on overlapping ids end as one group under its smallest id', async (t) => {
  const { pool } = await countedPool(t)
  const other = new pg.Pool({ connectionString: (pool as unknown as { options: { connectionString: string } }).options.connectionString, max: 10 })
  other.on('error', () => {})
  t.teardown(() => other.end())
  const links = [durableOn(pool), durableOn(other)]
  // A chain of 40 ids linked pair by pair, all at once, in a shuffled order, half through each pool: without
  // the per-instance lock two links reading before either commits would leave the chain split in two groups.
  const ids = Array.from({ length: 40 }, (_, i) => `id-${String(i).padStart(2, '0')}`)
  const pairs = ids.slice(1).map((id, i) => [ids[i]!, id]).sort(() => Math.random() - 0.5)
  await Promise.all(pairs.map((pair, i) => links[i % 2]!.link('acme', pair)))
  const stored = await rows(pool)
  t.equal(stored.length, ids.length - 1, 'every id but the canonical one has a row')
  t.same([...new Set(stored.map((row) => row.canonical))], ['id-00'], 'one group, its smallest id canonical')

  // The same two ids linked by both at once: both answer the same canonical id, and one of them joined.
  const same = await Promise.all(links.map((link) => link.link('acme', ['b-2', 'b-1'])))
  t.same(same.map((answer) => answer.canonical), ['b-1', 'b-1'], 'both agree on the canonical id')
  t.same(same.map((answer) => answer.joined.length).sort(), [0, 1], 'the join is reported once')
  t.same(same.map((answer) => answer.changed).sort(), [false, true], 'and only one wrote')
  t.same((await links[0]!.link('other', ['b-2'])).canonical, 'b-2', 'links are per instance')
})

test('links survive a flush of Redis: read back from Postgres once, then answered by Redis again', async (t) => {
  const { pool, statements } = await countedPool(t)
  const keyPrefix = `t${randomUUID()}:`
  const admin = new Redis(REDIS_URL)
  t.teardown(async () => {
    await deleteKeys(admin, keyPrefix)
    await admin.quit()
  })
  const one = processMap(t, keyPrefix, pool)
  t.equal((await one.link('acme', [PHONE, LID])).canonical, LID)
  t.same(await rows(pool), [{ id: encodeURIComponent(PHONE), canonical: encodeURIComponent(LID) }], 'the link is in Postgres too')

  await deleteKeys(admin, keyPrefix)
  // Another process (no copy of its own) meets the phone id alone: Redis no longer knows it.
  const two = processMap(t, keyPrefix, pool)
  const before = statements()
  const back = await two.link('acme', [PHONE])
  t.equal(back.canonical, LID, 'the phone id alone answers the person again')
  t.equal(back.converging, true, 'marked converging: a conversation cached before may be an old one')
  t.equal(statements() - before, 1, 'one Postgres statement read it back')
  t.equal(await admin.get(`${keyPrefix}{aliases:acme}:id:${encodeURIComponent(PHONE)}`), encodeURIComponent(LID), 'Redis repopulated')
  await two.settle('acme', LID)

  const three = processMap(t, keyPrefix, pool)
  const after = statements()
  t.equal((await three.link('acme', [PHONE])).canonical, LID, 'a third process is answered by Redis')
  t.equal((await three.link('acme', [LID])).canonical, LID)
  t.equal((await three.link('acme', ['never-linked'])).canonical, 'never-linked', 'an id never linked answers itself')
  t.equal(statements() - after, 1, 'only the id never seen was asked of Postgres')
  t.equal((await processMap(t, keyPrefix, pool).link('acme', ['never-linked'])).canonical, 'never-linked')
  t.equal(statements() - after, 1, 'and Redis remembers it was asked: no statement for it again')
})

test('a link Postgres knows and Redis lost is joined, not forgotten, when a new id arrives', async (t) => {
  const { pool } = await countedPool(t)
  const keyPrefix = `t${randomUUID()}:`
  const admin = new Redis(REDIS_URL)
  t.teardown(async () => {
    await deleteKeys(admin, keyPrefix)
    await admin.quit()
  })
  await processMap(t, keyPrefix, pool).link('acme', ['b', 'c'])
  await deleteKeys(admin, keyPrefix)
  const linked = await processMap(t, keyPrefix, pool).link('acme', ['c', 'd'])
  t.equal(linked.canonical, 'b', 'c is still b\'s, so d joins b (Redis alone would have answered c)')
  t.same((await rows(pool)).map((row) => [row.id, row.canonical]), [['c', 'b'], ['d', 'b']])
})

const contact = (which: 'lid' | 'phone', linked = false): DeliveryContact => ({
  identifier: which === 'lid' ? LID : PHONE,
  name: 'Ana',
  ...(linked ? { aliases: [which === 'lid' ? PHONE : LID] } : {})
})

test('through the plugin: no Postgres statement on a warm lone delivery, cached or answered by Redis', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { pool, statements } = await countedPool(t)
  const instances = { acme: instanceOf(sim, account) }
  // localTtlMs 1: the lone id's answer is not kept in the process, so every delivery asks Redis.
  for (const localTtlMs of [60_000, 1]) {
    const { app } = await gateway(t, { instances, conversations: { postgres: pool, localTtlMs } })
    const message = (i: number) => ({ content: `m${i}`, source_id: `${localTtlMs}-${i}` })
    await app.chatwoot.deliver('acme', { contact: { identifier: `ana-${localTtlMs}` }, message: message(0) })
    const before = statements()
    for (let i = 1; i <= 5; i++) await app.chatwoot.deliver('acme', { contact: { identifier: `ana-${localTtlMs}` }, message: message(i) })
    t.equal(statements() - before, 0, `localTtlMs ${localTtlMs}: 5 warm deliveries, no Postgres statement`)
  }
})

for (const durable of [true, false]) {
  test(`through the plugin, Redis flushed after a late mapping: the phone id alone goes to the person's conversation ${durable ? '(Postgres)' : '(without Postgres it does not)'}`,
    async (t) => {
      const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 100000 })
      const pool = durable ? (await countedPool(t)).pool : false
      // localTtlMs 1: nothing is kept in the process, so what Redis forgot is forgotten (as for a process started after the flush).
      const { app, keyPrefix } = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { postgres: pool, localTtlMs: 1 } })
      const deliver = async (who: DeliveryContact, i: number) =>
        (await app.chatwoot.deliver('acme', { contact: who, message: { content: `m${i}`, source_id: `s${i}` } })).conversationId
      const phoneFirst = await deliver(contact('phone'), 1)
      // Chatwoot keeps activity in seconds: the lid's conversation is the later one, so it survives the mapping.
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const person = await deliver(contact('lid'), 2)
      t.not(phoneFirst, person, 'two conversations before the mapping')
      t.equal(await deliver(contact('lid', true), 3), person, 'the mapping: the later conversation survives')
      t.equal(await deliver(contact('phone'), 4), person, 'the phone id alone follows the person')

      await deleteKeys(app.redis, keyPrefix)
      const after = await deliver(contact('phone'), 5)
      if (durable) t.equal(after, person, 'after the flush the phone id alone still goes to the person\'s conversation')
      else t.equal(after, phoneFirst, 'without Postgres the link is forgotten: the phone id alone goes back to its old conversation')
    })
}
