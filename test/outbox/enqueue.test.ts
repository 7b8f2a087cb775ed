import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { test } from 'tap'
import { migrate, SCHEMA_VERSION } from '../../lib/outbox/schema.js'
import { testDatabase } from '../helpers/app.js'
import { failure } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

async function idle (t: Parameters<typeof outboxApp>[0], worker = false) {
  const { sim, account } = await simulatedAccount(t)
  const built = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, outbox: { worker } })
  return { sim, account, ...built }
}

test('bad input never enters the table: coded 400 as deliver() answers it, 404 for an unknown instance', async (t) => {
  const { outbox, databaseUrl } = await idle(t)
  const pool = new pg.Pool({ connectionString: databaseUrl })
  t.teardown(() => pool.end())
  const noKey = await failure(outbox.enqueue('acme', { contact: { name: 'x' } as never, message: { content: 'hi' } }))
  t.equal(noKey.code, 'FST_CHATWOOT_DELIVERY_INVALID')
  t.equal(noKey.statusCode, 400)
  const badType = await failure(outbox.enqueue('acme', { contact: { identifier: 'a' }, message: { content: 'hi', message_type: 'shouted' as never } }))
  t.equal(badType.code, 'FST_CHATWOOT_DELIVERY_INVALID')
  const stream = await failure(outbox.enqueue('acme', {
    contact: { identifier: 'a' },
    message: { content: 'hi', attachments: [{ filename: 'a.txt', contentType: 'text/plain', data: () => (async function * () {})() }] }
  }))
  t.match(stream.message, /stream/, 'a stream cannot survive a crash: refused, not stored')
  const unknown = await failure(outbox.enqueue('nobody', { contact: { identifier: 'a' }, message: { content: 'hi' } }))
  t.equal(unknown.code, 'FST_CHATWOOT_INSTANCE_NOT_FOUND')
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM chatwoot_outbox.entries')
  t.equal(rows[0].n, 0, 'no row was written')
})

test('the same (instance, contact, source_id) answers the existing entry; another payload under it is a coded 409', async (t) => {
  const { outbox } = await idle(t)
  const input = { contact: { identifier: 'alice' }, message: { content: 'hello', source_id: 'wamid.1' } }
  const first = await outbox.enqueue('acme', input)
  t.match(first, { sourceId: 'wamid.1', state: 'queued', existing: false })
  const again = await outbox.enqueue('acme', structuredClone(input))
  t.same(again, { ...first, existing: true }, 'the existing entry')
  const otherContact = await outbox.enqueue('acme', { ...input, contact: { identifier: 'bob' } })
  t.not(otherContact.id, first.id, 'ids repeat across chats: another contact with the same source_id is another entry')
  const conflict = await failure(outbox.enqueue('acme', { ...input, message: { ...input.message, content: 'changed' } }))
  t.equal(conflict.code, 'FST_CHATWOOT_OUTBOX_CONFLICT')
  t.equal(conflict.statusCode, 409)
  const generated = await outbox.enqueue('acme', { contact: { identifier: 'alice' }, message: { content: 'no id' } })
  t.match(generated.sourceId, /^[0-9a-f-]{36}$/, 'a message without a source_id gets one at enqueue')
})

test('a message over maxPayloadBytes is a coded 413 at enqueue, never a silent drop', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, outbox: { worker: false, maxPayloadBytes: 10_000 } })
  const big = await failure(outbox.enqueue('acme', {
    contact: { identifier: 'alice' },
    message: { content: 'photo', attachments: [{ filename: 'a.jpg', contentType: 'image/jpeg', data: Buffer.alloc(20_000) }] }
  }))
  t.equal(big.code, 'FST_CHATWOOT_OUTBOX_PAYLOAD_TOO_LARGE')
  t.equal(big.statusCode, 413)
  t.match(big.message, /\d+ bytes stored, over the outbox bound of 10000/)
})

test('enqueue inside the host\'s transaction: nothing on rollback, delivered after commit', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const db = await testDatabase(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, databaseUrl: db.url })
  const pool = new pg.Pool({ connectionString: db.url })
  t.teardown(() => pool.end())
  const host = await pool.connect()
  try {
    await host.query('BEGIN')
    await outbox.enqueue('acme', { contact: { identifier: 'tx' }, message: { content: 'rolled back', source_id: 'r1' } }, { db: host })
    await host.query('ROLLBACK')
    await host.query('BEGIN')
    await outbox.enqueue('acme', { contact: { identifier: 'tx' }, message: { content: 'committed', source_id: 'c1' } }, { db: host })
    await host.query('COMMIT')
  } finally {
    host.release()
  }
  await until(async () => (await messagesOf(sim, account, 'tx')).length === 1, 30_000, 'the committed entry delivered')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same((await messagesOf(sim, account, 'tx')).map((m) => m.source_id), ['c1'], 'only the committed message reached Chatwoot')
  const { rows } = await pool.query('SELECT source_id FROM chatwoot_outbox.entries')
  t.same(rows.map((r) => r.source_id), ['c1'])
})

test('several replicas migrating one fresh database at once all succeed, and the schema is at its version once', async (t) => {
  const db = await testDatabase(t)
  const pools = Array.from({ length: 6 }, () => new pg.Pool({ connectionString: db.url, max: 2 }))
  t.teardown(() => Promise.all(pools.map((pool) => pool.end())))
  const schema = `s_${randomUUID().replace(/-/g, '').slice(0, 8)}`
  const results = await Promise.all(pools.map((pool) => migrate(pool, schema)))
  t.equal(results.filter((r) => r.from === 0).length, 1, 'one replica created it')
  t.ok(results.every((r) => r.to === SCHEMA_VERSION), 'all end at the current version')
  const again = await migrate(pools[0]!, schema)
  t.same(again, { from: SCHEMA_VERSION, to: SCHEMA_VERSION }, 'running it again changes nothing')
})

test('request.chatwoot.enqueue(input) enqueues into the route\'s instance', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app, outbox } = await outboxApp(t, {
    instances: { acme: instanceOf(sim, account) },
    outbox: { worker: false },
    routes: (scope) => {
      scope.post('/instances/:instance/queue', { config: { chatwoot: true } }, async (request, reply) => {
        reply.code(202)
        return request.chatwoot!.enqueue(request.body as Parameters<typeof outbox.enqueue>[1])
      })
    }
  })
  const answer = await app.inject({ method: 'POST', url: '/instances/acme/queue', payload: { contact: { identifier: 'r' }, message: { content: 'hi', source_id: 'q1' } } })
  t.equal(answer.statusCode, 202)
  t.match(answer.json(), { sourceId: 'q1', state: 'queued', existing: false })
  const bad = await app.inject({ method: 'POST', url: '/instances/acme/queue', payload: { contact: {}, message: { content: 'hi' } } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'FST_CHATWOOT_DELIVERY_INVALID')
  t.equal((await outbox.outbox.stats()).queued, 1)
})

test('commit order per lane: an enqueue waits for an open transaction that enqueued into the same lane, and goes after it', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const db = await testDatabase(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, databaseUrl: db.url })
  const pool = new pg.Pool({ connectionString: db.url })
  t.teardown(() => pool.end())
  const host = await pool.connect()
  let second: Promise<unknown> | undefined
  try {
    await host.query('BEGIN')
    await outbox.enqueue('acme', { contact: { identifier: 'lane' }, message: { content: 'first', source_id: 'l1' } }, { db: host })
    let settled = false
    second = outbox.enqueue('acme', { contact: { identifier: 'lane' }, message: { content: 'second', source_id: 'l2' } })
      .finally(() => { settled = true })
    const other = await outbox.enqueue('acme', { contact: { identifier: 'elsewhere' }, message: { content: 'x', source_id: 'o1' } })
    t.equal(other.state, 'queued', 'another lane is not held up')
    await new Promise((resolve) => setTimeout(resolve, 300))
    t.notOk(settled, 'the same lane waits for the open transaction')
    await host.query('COMMIT')
  } finally {
    host.release()
  }
  await second
  await until(async () => (await messagesOf(sim, account, 'lane')).length === 2, 30_000, 'both delivered')
  t.same((await messagesOf(sim, account, 'lane')).map((m) => m.source_id), ['l1', 'l2'], 'in commit order')
})
