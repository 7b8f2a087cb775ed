// Draining a pool on pg-pool's own events: ended once nothing is checked out or waiting, without
// cutting off a caller, and without waiting on a poll.
import { type AddressInfo, createServer, type Socket } from 'node:net'
import pg from 'pg'
import { test } from 'tap'
import { Connections, PoolDrain } from '../../lib/postgres/drain.js'
import { serverUrl } from '../../lib/testing/index.js'

const log = { warn: () => {}, debug: () => {} }

function drainable (config: pg.PoolConfig) {
  const pool = new pg.Pool(config)
  const connections = new Connections()
  connections.track(pool)
  pool.on('error', () => {})
  return { pool, target: 'test', connections }
}

test('a pool is ended right after its last client comes back, and its sockets have closed', async (t) => {
  const record = drainable({ connectionString: serverUrl(), max: 2, application_name: 'fcw-drain-test' })
  const [first, second] = await Promise.all([record.pool.connect(), record.pool.connect()])
  let released = 0
  const drain = new PoolDrain(record, log)
  setTimeout(() => { first?.release(); second?.query('select pg_sleep(0.05)').then(() => { released = Date.now(); second.release() }) }, 50)
  await drain.done
  const latency = Date.now() - released
  t.ok(released > 0, 'the drain waited for every checked-out client')
  t.equal(record.pool.totalCount, 0, 'the pool was ended')
  t.equal(record.connections.size, 0, 'and its sockets closed before done resolved')
  t.ok(latency < 1000, `done ${latency} ms after the last release (sockets included)`)
})

test('a waiter is served before the pool ends', async (t) => {
  const record = drainable({ connectionString: serverUrl(), max: 1, application_name: 'fcw-drain-test' })
  const holder = await record.pool.connect()
  const waiter = record.pool.connect()
  const drain = new PoolDrain(record, log)
  setTimeout(() => holder.release(), 30)
  const served = await waiter
  const { rows } = await served.query<{ n: number }>('select 1 as n')
  t.equal(rows[0]?.n, 1, 'the queued caller got a working connection')
  served.release()
  await drain.done
  t.equal(record.pool.totalCount, 0)
})

test('a connection failing without an event still lets the drain finish', async (t) => {
  // A server that takes the socket and never answers: the connect times out, which pg-pool
  // counts without an event. The drain's safety look, at connectionTimeoutMillis, sees it.
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    silent.close()
  })
  const { port } = silent.address() as AddressInfo
  const record = drainable({ host: '127.0.0.1', port, max: 1, connectionTimeoutMillis: 200 })
  const failing = record.pool.connect().catch((error: Error) => error)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const started = Date.now()
  const drain = new PoolDrain(record, log)
  t.ok(await failing instanceof Error, 'the connect timed out')
  await drain.done
  const tookMs = Date.now() - started
  t.ok(tookMs >= 150 && tookMs < 1000, `ended ${tookMs} ms after the drain began (the connect timed out at ~180)`)
})
