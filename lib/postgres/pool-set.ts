import type pg from 'pg'
import { PgClosedError, PgNotConfiguredError } from '../errors.js'
import { assertInstanceName } from '../options.js'
import { SingleFlight } from '../single-flight.js'
import { Bindings } from './bindings.js'
import { foreignRecord, isPool, keyOf, openPool, poolConfig, type PoolRecord } from './pool-record.js'
import { runQuery, runTransaction, type RunContext } from './run.js'
import { idlePools, PoolSlots } from './slots.js'
import type { DatabaseSource, PoolSetOptions, PoolSetStats, PoolState } from './types.js'

export type { DatabaseSource, PoolSetLog, PoolSetOptions, PoolSetStats, PoolState, ResolveDatabase } from './types.js'

// The instances' pools, put together from their parts: bindings (which pool a name uses, and
// when to ask again), pool records (one pool per distinct setting), slots (the maxPools bound,
// least recently used first), drains (ending a pool without cutting anyone off) and run (queries
// and transactions). This file holds only the order in which they are asked.
export class PoolSet {
  readonly #options: PoolSetOptions
  readonly #bindings: Bindings
  readonly #pools = new Map<string, PoolRecord>()
  readonly #slots: PoolSlots
  readonly #flights = new SingleFlight<string, PoolRecord>()
  // Keyed by settings: two instances opening the same database at once make one pool.
  readonly #creations = new SingleFlight<string, PoolRecord>()
  readonly #run: RunContext
  readonly #sweeper: NodeJS.Timeout
  #created = 0
  #evicted = 0
  #closed = false

  constructor (options: PoolSetOptions) {
    this.#options = options
    this.#bindings = new Bindings(options.revalidateMs)
    this.#slots = new PoolSlots(options.maxPools, options.log)
    this.#run = { log: options.log, connectFailed: (pool) => this.#slots.nudge(pool) }
    const every = Math.max(1000, Math.min(options.idleTimeoutMs / 2, 30_000))
    this.#sweeper = setInterval(() => {
      for (const record of idlePools(this.#pools.values(), options.idleTimeoutMs)) this.#retire(record)
    }, every).unref()
  }

  pool (name: string): Promise<pg.Pool> {
    const record = this.#bindings.fresh(name)
    if (record !== undefined) return Promise.resolve(record.pool)
    return this.#open(name).then((opened) => opened.pool)
  }

  query<R extends pg.QueryResultRow = any> (
    name: string, text: string | pg.QueryConfig, values?: unknown[]
  ): Promise<pg.QueryResult<R>> {
    const record = this.#bindings.fresh(name)
    if (record !== undefined) return runQuery<R>(this.#run, name, record, text, values)
    return this.#open(name).then((opened) => runQuery<R>(this.#run, name, opened, text, values))
  }

  async transact<T> (name: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const record = this.#bindings.fresh(name) ?? await this.#open(name)
    return runTransaction(this.#run, name, record, work)
  }

  /** Drops `name`'s pool binding; the pool is drained and ended once no other instance uses it. */
  async evict (name: string): Promise<void> {
    assertInstanceName(name)
    this.#flights.forget(name)
    const record = this.#bindings.record(name)
    if (record === undefined) return
    this.#bindings.unbind(name)
    if (record.names.size === 0) await this.#retire(record)
  }

  /** The next use of `name` resolves its settings again (a pool is replaced only if they changed). */
  markStale (name: string): void {
    this.#flights.forget(name)
    this.#bindings.markStale(name)
  }

  stats (): PoolSetStats {
    let totalConnections = this.#slots.drainingConnections()
    let idleConnections = 0
    let waiting = 0
    let pools = 0
    for (const { owned, pool } of this.#pools.values()) {
      if (!owned) continue
      pools++
      totalConnections += pool.totalCount
      idleConnections += pool.idleCount
      waiting += pool.waitingCount
    }
    return { pools, totalConnections, idleConnections, waiting, created: this.#created, evicted: this.#evicted }
  }

  pools (): PoolState[] {
    const now = Date.now()
    return [...this.#pools.values()].map((record) => ({
      target: record.target,
      instances: [...record.names],
      totalConnections: record.pool.totalCount,
      idleConnections: record.pool.idleCount,
      waiting: record.pool.waitingCount,
      idleForMs: now - record.lastUsed
    }))
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#sweeper)
    this.#slots.wake()
    for (const record of [...this.#pools.values()]) this.#retire(record)
    // A pool still being opened is retired by its flight once it sees #closed: wait for those
    // flights too, so no connection of ours outlives close().
    await Promise.all([this.#flights.settled(), this.#creations.settled()])
    await this.#slots.drained()
  }

  #open (name: string): Promise<PoolRecord> {
    return this.#flights.run(name, async () => {
      assertInstanceName(name)
      if (this.#closed) throw new PgClosedError(name)
      const source = await this.#options.resolve(name)
      const record = source === undefined || source === null
        ? this.#fallbackRecord(name)
        : await this.#existingOrNew(name, source)
      if (this.#closed) {
        await this.#retire(record)
        throw new PgClosedError(name)
      }
      // Settings changed: the pool nobody resolves to any more is drained and ended.
      const abandoned = this.#bindings.bind(name, record)
      if (abandoned !== undefined) this.#retire(abandoned)
      return record
    })
  }

  #fallbackRecord (name: string): PoolRecord {
    const pool = this.#options.fallback()
    if (pool === undefined) throw new PgNotConfiguredError(name)
    const key = 'fallback'
    let record = this.#pools.get(key)
    if (record === undefined || record.pool !== pool) {
      record = foreignRecord(key, pool, '@fastify/postgres')
      this.#pools.set(key, record)
    }
    return record
  }

  #existingOrNew (name: string, source: DatabaseSource): PoolRecord | Promise<PoolRecord> {
    const key = keyOf(source)
    return this.#pools.get(key) ?? this.#creations.run(key, () => this.#create(name, key, source))
  }

  async #create (name: string, key: string, source: DatabaseSource): Promise<PoolRecord> {
    if (isPool(source)) {
      const record = foreignRecord(key, source, 'a pool passed in')
      this.#pools.set(key, record)
      return record
    }
    const config = poolConfig(source, this.#options.poolDefaults)
    // Room is made before connecting, and the pools given up for it have closed their sockets:
    // the server never sees more than maxPools x max connections of ours, even while many
    // instances open at once.
    await this.#slots.take(name, this.#slotsHost)
    try {
      const record = await openPool(name, key, config, this.#options.log)
      this.#created++
      this.#pools.set(key, record)
      return record
    } finally {
      this.#slots.opened()
    }
  }

  readonly #slotsHost = {
    isClosed: (): boolean => this.#closed,
    owned: (): PoolRecord[] => [...this.#pools.values()].filter((record) => record.owned),
    retire: (record: PoolRecord): Promise<void> => this.#retire(record)
  }

  #retire (record: PoolRecord): Promise<void> {
    if (this.#pools.get(record.key) === record) this.#pools.delete(record.key)
    this.#bindings.unbindAll(record)
    if (!record.owned) return Promise.resolve()
    const { started, done } = this.#slots.drain(record)
    if (started) this.#evicted++
    return done
  }
}
