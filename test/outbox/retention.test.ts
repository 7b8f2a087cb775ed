import pg from 'pg'
import { test } from 'tap'
import { enqueue } from '../../lib/outbox/enqueue.js'
import { outboxSettings } from '../../lib/outbox/options.js'
import { erase, prune, pruneLanes, strip } from '../../lib/outbox/retention.js'
import { migrate } from '../../lib/outbox/schema.js'
import { testDatabase } from '../helpers/app.js'
import { failure } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { instanceOf, outboxApp } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

const S = 'chatwoot_outbox'
const settings = { schema: S, contactKey: (c: { identifier: string }) => c.identifier, maxPayloadBytes: 1 << 20 }

async function table (t: Parameters<typeof testDatabase>[0]) {
  const { url } = await testDatabase(t)
  const pool = new pg.Pool({ connectionString: url })
  t.teardown(() => pool.end())
  await migrate(pool, S)
  const put = async (identifier: string, index: number) => (await enqueue(pool, 'acme', {
    contact: { identifier },
    message: { content: `secret ${index}`, source_id: `${identifier}-${index}`, attachments: [{ filename: 'a.txt', contentType: 'text/plain', data: Buffer.from('bytes') }] }
  }, settings)).id
  // Moves an entry to a state as a worker would, `agoMs` in the past (the chores compare with now()).
  const mark = (id: number, state: 'delivered' | 'dead', agoMs: number, checked = false) => pool.query(`
    UPDATE ${S}.entries SET state = $2, conversation_id = 7,
           delivered_at = CASE WHEN $2 = 'delivered' THEN now() - make_interval(secs => $3::float8 / 1000) END,
           dead_at = CASE WHEN $2 = 'dead' THEN now() - make_interval(secs => $3::float8 / 1000) END,
           checked_at = CASE WHEN $4 THEN now() END WHERE id = $1`, [id, state, agoMs, checked])
  const settle = (lane: string) => pool.query(`UPDATE ${S}.lanes SET queued = (SELECT count(*) FROM ${S}.entries WHERE lane = $1 AND state = 'queued') WHERE lane = $1`, [lane])
  const rows = async () => (await pool.query(`SELECT source_id, state, payload IS NULL AS stripped, stripped_at IS NOT NULL AS stamped FROM ${S}.entries ORDER BY id`)).rows
  return { pool, put, mark, settle, rows }
}

test('content and attachments are stripped only once a good delete-window check vouched for the entry, in bounded batches', async (t) => {
  const { pool, put, mark, rows } = await table(t)
  const ids = [await put('a', 0), await put('a', 1), await put('a', 2), await put('a', 3)]
  await mark(ids[0]!, 'delivered', 1000, true)
  await mark(ids[1]!, 'delivered', 1000, true)
  // Delivered long ago but never vouched for: if its conversation turns out deleted, it is delivered again from this content.
  await mark(ids[2]!, 'delivered', 3_600_000, false)
  t.equal(await strip(pool, S, 1), 1, 'one a batch')
  t.equal(await strip(pool, S, 10), 1, 'the rest')
  t.equal(await strip(pool, S, 10), 0, 'nothing twice')
  t.same(await rows(), [
    { source_id: 'a-0', state: 'delivered', stripped: true, stamped: true },
    { source_id: 'a-1', state: 'delivered', stripped: true, stamped: true },
    { source_id: 'a-2', state: 'delivered', stripped: false, stamped: false },
    { source_id: 'a-3', state: 'queued', stripped: false, stamped: false }
  ])
  // The idempotency key and the payload's hash outlive the content: the same key again still answers the entry.
  const again = await enqueue(pool, 'acme', {
    contact: { identifier: 'a' },
    message: { content: 'secret 0', source_id: 'a-0', attachments: [{ filename: 'a.txt', contentType: 'text/plain', data: Buffer.from('bytes') }] }
  }, settings)
  t.match(again, { id: ids[0], existing: true, state: 'delivered' })
})

test('delivered rows are pruned after retentionMs and dead letters after deadRetentionMs, in bounded batches; queued rows never', async (t) => {
  const { pool, put, mark, rows } = await table(t)
  for (let index = 0; index < 5; index++) await mark(await put('old', index), 'delivered', 10_000)
  await mark(await put('young', 0), 'delivered', 10)
  await mark(await put('dead', 0), 'dead', 10_000)
  await mark(await put('dead', 1), 'dead', 10)
  await put('queued', 0)
  await pool.query(`UPDATE ${S}.entries SET created_at = now() - interval '1 day' WHERE source_id = 'queued-0'`)
  const keep = { retentionMs: 5000, deadRetentionMs: 5000 }
  t.same(await prune(pool, S, { ...keep, limit: 2 }), { delivered: 2, dead: 1 }, 'a batch of each')
  t.same(await prune(pool, S, { ...keep, limit: 2 }), { delivered: 2, dead: 0 })
  t.same(await prune(pool, S, { ...keep, limit: 2 }), { delivered: 1, dead: 0 })
  t.same(await prune(pool, S, { ...keep, limit: 2 }), { delivered: 0, dead: 0 })
  t.same((await rows()).map((r) => `${r.source_id} ${r.state}`), ['young-0 delivered', 'dead-1 dead', 'queued-0 queued'])
})

test('lane rows with no entry and no live lease are pruned; an enqueue after starts the lane again', async (t) => {
  const { pool, put, mark, settle } = await table(t)
  await mark(await put('gone', 0), 'delivered', 10_000)
  await settle('gone')
  await put('waiting', 0)
  await mark(await put('leased', 0), 'delivered', 10_000)
  await settle('leased')
  await pool.query(`UPDATE ${S}.lanes SET lease_owner = 'w', lease_until = now() + interval '1 minute' WHERE lane = 'leased'`)
  await pool.query(`DELETE FROM ${S}.entries WHERE lane IN ('gone', 'leased')`)
  t.equal(await pruneLanes(pool, S, 10), 1, 'only the lane with nothing left and no lease')
  const lanes = (await pool.query(`SELECT lane FROM ${S}.lanes ORDER BY lane`)).rows.map((r) => r.lane)
  t.same(lanes, ['leased', 'waiting'])
  const id = await put('gone', 1)
  t.same((await pool.query(`SELECT seq, queued FROM ${S}.entries e JOIN ${S}.lanes l USING (instance, lane) WHERE e.id = $1`, [id])).rows,
    [{ seq: '1', queued: 1 }], 'a fresh lane, its count right')
})

test('erase removes one person\'s entries in every state and their lane, nobody else\'s', async (t) => {
  const { pool, put, mark } = await table(t)
  await mark(await put('ann', 0), 'delivered', 10)
  await mark(await put('ann', 1), 'dead', 10)
  await put('ann', 2)
  await put('bob', 0)
  t.equal(await erase(pool, S, 'acme', 'ann'), 3)
  t.equal(await erase(pool, S, 'other', 'bob'), 0, 'the instance is part of the key')
  t.same((await pool.query(`SELECT source_id FROM ${S}.entries`)).rows, [{ source_id: 'bob-0' }])
  t.same((await pool.query(`SELECT lane FROM ${S}.lanes`)).rows, [{ lane: 'bob' }])
})

test('outbox.erase() takes a contact as enqueued or its key, and refuses anything else with a coded 400', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, outbox: { worker: false } })
  await outbox.enqueue('acme', { contact: { identifier: 'ann' }, message: { content: 'a', source_id: 'a1' } })
  await outbox.enqueue('acme', { contact: { identifier: 'ann' }, message: { content: 'b', source_id: 'a2' } })
  await outbox.enqueue('acme', { contact: { identifier: 'bob' }, message: { content: 'c', source_id: 'b1' } })
  t.equal(await outbox.outbox.erase({ instance: 'acme', contact: { identifier: 'ann' } }), 2)
  t.equal(await outbox.outbox.erase({ instance: 'acme', contact: 'bob' }), 1)
  t.equal((await outbox.outbox.stats()).queued, 0)
  const bad = await failure(outbox.outbox.erase({ instance: 'acme', contact: 42 as never }))
  t.equal(bad.code, 'FST_CHATWOOT_DELIVERY_INVALID')
  t.equal(bad.statusCode, 400)
})

test('retention options: documented defaults, and a retention shorter than the delete window and settle time is refused', async (t) => {
  t.match(outboxSettings(), { deleteWindowMs: 60_000, settleMs: 10_000, retentionMs: 7 * 86_400_000, deadRetentionMs: 30 * 86_400_000, choreBatch: 1000 })
  t.throws(() => outboxSettings({ deleteWindowMs: 60_000, settleMs: 10_000, retentionMs: 69_999 }),
    { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /retentionMs.*>= deleteWindowMs \+ settleMs \(70000\), got 69999/ })
  t.throws(() => outboxSettings({ deadRetentionMs: -1 }), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /deadRetentionMs/ })
  t.throws(() => outboxSettings({ choreBatch: 0 }), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /choreBatch/ })
})
