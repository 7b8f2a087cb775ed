import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { PgClosedError, PgConnectError, PgNotConfiguredError } from '../errors.js'
import { fingerprint } from '../fingerprint.js'
import { assertInstanceName } from '../instances/name.js'
import { SingleFlight } from '../single-flight.js'
import { describeTarget } from './target.js'

/** What an instance's database resolves to: a connection string, a pool config, or a pool of yours. */
export type DatabaseSource = string | pg.PoolConfig | pg.Pool
export type ResolveDatabase = (name: string) =>
  DatabaseSource | undefined | null | Promise<DatabaseSource | undefined | null>

export interface PoolSetStats {
  /** Live pools this plugin created (pools being drained are not counted). */
  pools: number
  /** Connections of every pool this plugin created, draining ones included. */
  totalConnections: number
  idleConnections: number
  /** Queries waiting for a connection. */
  waiting: number
  /** Pools created since registration. */
  created: number
  /** Pools drained and ended: settings changed, least recently used, idle, or evict(). */
  evicted: number
}

/** One open pool, for health pages: never a password (the target is masked). */
export interface PoolState {
  /** The server and database, password masked; '@fastify/postgres' or 'a pool passed in' for pools not made here. */
  target: string
  /** The instances bound to it now. */
  instances: string[]
  totalConnections: number
  idleConnections: number
  waiting: number
  /** Milliseconds since an instance last took it. */
  idleForMs: number
}

export interface PoolSetLog {
  warn (details: object, message: string): void
  debug (details: object, message: string): void
}

export interface PoolSetOptions {
  resolve: ResolveDatabase
  /** A shared pool for instances without a database of their own (@fastify/postgres's). */
  fallback: () => pg.Pool | undefined
  maxPools: number
  idleTimeoutMs: number
  revalidateMs: number
  poolDefaults: pg.PoolConfig
  log: PoolSetLog
}

// One pool per distinct connection setting, shared by every instance that resolves to it:
// gateways often point many instances at one Chatwoot database, and a pool per name would
// multiply the connections to it.
interface PoolRecord {
  readonly key: string
  readonly pool: pg.Pool
  /** Only pools made here are ever ended here. */
  readonly owned: boolean
  readonly target: string
  readonly names: Set<string>
  /** Connections of an owned pool until their socket has closed (pg-pool forgets them earlier). */
  readonly connections: Set<pg.Client>
  lastUsed: number
}

interface Binding {
  record: PoolRecord
  /** Until then the binding is used without asking `resolve` again. */
  checkedUntil: number
}

const DEFAULT_POOL: pg.PoolConfig = { max: 5, connectionTimeoutMillis: 5000, application_name: 'fastify-chatwoot' }

export class PoolSet {
  readonly #options: PoolSetOptions
  readonly #bindings = new Map<string, Binding>()
  readonly #pools = new Map<string, PoolRecord>()
  // Pools being drained, until their last connection has closed.
  readonly #draining = new Map<pg.Pool, { record: PoolRecord, drained: Promise<void> }>()
  readonly #flights = new SingleFlight<string, PoolRecord>()
  // Keyed by settings: two instances opening the same database at once make one pool.
  readonly #creations = new SingleFlight<string, PoolRecord>()
  readonly #sweeper: NodeJS.Timeout
  #created = 0
  #evicted = 0
  // Pools connecting for the first time: they count against maxPools before they are published.
  #opening = 0
  // Openers waiting for a slot: woken when a pool finishes opening or draining.
  readonly #openers: Array<() => void> = []
  #closed = false

  constructor (options: PoolSetOptions) {
    this.#options = options
    const every = Math.max(1000, Math.min(options.idleTimeoutMs / 2, 30_000))
    this.#sweeper = setInterval(() => this.#sweepIdle(), every).unref()
  }

  pool (name: string): Promise<pg.Pool> {
    const record = this.#fresh(name)
    if (record !== undefined) return Promise.resolve(record.pool)
    return this.#open(name).then((opened) => opened.pool)
  }

  query<R extends pg.QueryResultRow = any> (
    name: string, text: string | pg.QueryConfig, values?: unknown[]
  ): Promise<pg.QueryResult<R>> {
    const record = this.#fresh(name)
    if (record !== undefined) return this.#query<R>(name, record, text, values)
    return this.#open(name).then((opened) => this.#query<R>(name, opened, text, values))
  }

  async transact<T> (name: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const record = this.#fresh(name) ?? await this.#open(name)
    const client = await this.#connect(name, record)
    let broken: Error | undefined
    // A checked-out client whose server goes away emits 'error'; unheard, it kills the process.
    const onError = (err: Error) => {
      broken = err
      this.#options.log.warn({ err, instance: name, target: record.target }, 'Postgres connection lost during a transaction')
    }
    client.on('error', onError)
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackError) {
        broken ??= rollbackError as Error
      }
      throw error
    } finally {
      client.removeListener('error', onError)
      // Handing the error back makes the pool destroy the client instead of reusing it.
      client.release(broken)
    }
  }

  /** Drops `name`'s pool binding; the pool is drained and ended once no other instance uses it. */
  async evict (name: string): Promise<void> {
    assertInstanceName(name)
    this.#flights.forget(name)
    const binding = this.#bindings.get(name)
    if (binding === undefined) return
    this.#unbind(name)
    if (binding.record.names.size === 0) await this.#retire(binding.record)
  }

  /** The next use of `name` resolves its settings again (a pool is replaced only if they changed). */
  markStale (name: string): void {
    this.#flights.forget(name)
    const binding = this.#bindings.get(name)
    if (binding !== undefined) binding.checkedUntil = 0
  }

  stats (): PoolSetStats {
    let totalConnections = 0
    let idleConnections = 0
    let waiting = 0
    let pools = 0
    const count = (pool: pg.Pool) => {
      totalConnections += pool.totalCount
      idleConnections += pool.idleCount
      waiting += pool.waitingCount
    }
    for (const record of this.#pools.values()) {
      if (!record.owned) continue
      pools++
      count(record.pool)
    }
    for (const { record } of this.#draining.values()) totalConnections += record.connections.size
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
    this.#wakeOpeners()
    for (const record of [...this.#pools.values()]) this.#retire(record)
    // A pool still being opened is retired by its flight once it sees #closed: wait for those
    // flights too, so no connection of ours outlives close().
    await Promise.all([this.#flights.settled(), this.#creations.settled()])
    while (this.#draining.size > 0) await Promise.all([...this.#draining.values()].map(({ drained }) => drained))
  }

  #fresh (name: string): PoolRecord | undefined {
    const binding = this.#bindings.get(name)
    if (binding === undefined) return undefined
    const now = Date.now()
    if (binding.checkedUntil <= now) return undefined
    binding.record.lastUsed = now
    return binding.record
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
      this.#bind(name, record)
      return record
    })
  }

  #fallbackRecord (name: string): PoolRecord {
    const pool = this.#options.fallback()
    if (pool === undefined) throw new PgNotConfiguredError(name)
    const key = 'fallback'
    let record = this.#pools.get(key)
    if (record === undefined || record.pool !== pool) {
      record = { key, pool, owned: false, target: '@fastify/postgres', names: new Set(), connections: new Set(), lastUsed: Date.now() }
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
      const record = { key, pool: source, owned: false, target: 'a pool passed in', names: new Set<string>(), connections: new Set<pg.Client>(), lastUsed: Date.now() }
      this.#pools.set(key, record)
      return record
    }
    const config: pg.PoolConfig = {
      ...DEFAULT_POOL,
      ...this.#options.poolDefaults,
      ...(typeof source === 'string' ? { connectionString: source } : source)
    }
    // Room is made before connecting, and the pools given up for it have closed their sockets:
    // the server never sees more than maxPools x max connections of ours, even while many
    // instances open at once.
    await this.#makeRoom(name)
    try {
      const record = await this.#connectNew(name, key, config)
      this.#pools.set(key, record)
      return record
    } finally {
      this.#opening--
      this.#wakeOpeners()
    }
  }

  async #connectNew (name: string, key: string, config: pg.PoolConfig): Promise<PoolRecord> {
    const target = describeTarget(config)
    const pool = new pg.Pool(config)
    const connections = new Set<pg.Client>()
    pool.on('connect', (client) => {
      connections.add(client)
      client.once('end', () => connections.delete(client))
    })
    // An idle client's error (server restart, pg_terminate_backend) is emitted on the pool;
    // without a listener Node turns it into an uncaught exception.
    pool.on('error', (err) => {
      this.#options.log.warn({ err, target }, 'idle Postgres connection failed; the pool replaces it')
    })
    // Connecting once before publishing means a wrong setting fails here, for this flight only,
    // and leaves nothing behind: the next call tries again.
    try {
      const client = await pool.connect()
      client.release()
    } catch (error) {
      pool.end().catch(() => {})
      throw connectError(name, target, error)
    }
    this.#created++
    this.#options.log.debug({ instance: name, target }, 'created a Postgres pool')
    return { key, pool, owned: true, target, names: new Set(), connections, lastUsed: Date.now() }
  }

  #bind (name: string, record: PoolRecord): void {
    const previous = this.#bindings.get(name)?.record
    if (previous !== record) {
      this.#unbind(name)
      record.names.add(name)
      // Settings changed: the pool nobody resolves to any more is drained and ended.
      if (previous !== undefined && previous.names.size === 0) this.#retire(previous)
    }
    record.lastUsed = Date.now()
    this.#bindings.set(name, { record, checkedUntil: Date.now() + this.#options.revalidateMs })
  }

  #unbind (name: string): void {
    const binding = this.#bindings.get(name)
    if (binding === undefined) return
    this.#bindings.delete(name)
    binding.record.names.delete(name)
  }

  /**
   * Takes one of the maxPools slots, giving up the least recently used pools for it. A pool
   * being drained keeps its slot until its last connection has closed, and so does one still
   * opening: the slots bound the connections, not just the pools.
   */
  async #makeRoom (name: string): Promise<void> {
    for (;;) {
      if (this.#closed) throw new PgClosedError(name)
      const owned = [...this.#pools.values()].filter((record) => record.owned)
      if (owned.length + this.#draining.size + this.#opening < this.#options.maxPools) {
        this.#opening++
        return
      }
      // Pools already draining will free slots for openers waiting before this one; retire
      // only for the demand they do not cover, so no pool is given up twice over.
      const needed = this.#openers.length + 1 - this.#draining.size
      for (const record of owned.sort((a, b) => a.lastUsed - b.lastUsed).slice(0, Math.max(0, needed))) this.#retire(record)
      // Woken when a drain ends or an opening finishes.
      await new Promise<void>((resolve) => this.#openers.push(resolve))
    }
  }

  #wakeOpeners (): void {
    for (const wake of this.#openers.splice(0)) wake()
  }

  #sweepIdle (): void {
    const before = Date.now() - this.#options.idleTimeoutMs
    for (const record of this.#pools.values()) {
      const { pool } = record
      const busy = pool.totalCount > pool.idleCount || pool.waitingCount > 0
      if (record.owned && record.lastUsed < before && !busy) this.#retire(record)
    }
  }

  #retire (record: PoolRecord): Promise<void> {
    if (this.#pools.get(record.key) === record) this.#pools.delete(record.key)
    for (const name of record.names) this.#bindings.delete(name)
    record.names.clear()
    if (!record.owned) return Promise.resolve()
    const draining = this.#draining.get(record.pool)
    if (draining !== undefined) return draining.drained
    this.#evicted++
    this.#options.log.debug({ target: record.target }, 'draining and ending a Postgres pool')
    const drained = this.#drain(record).finally(() => {
      this.#draining.delete(record.pool)
      this.#wakeOpeners()
    })
    this.#draining.set(record.pool, { record, drained })
    return drained
  }

  async #drain ({ pool, target, connections }: PoolRecord): Promise<void> {
    // Callers handed this pool just before it was retired take their connection in the promise
    // callbacks already queued: let them run first. Then pg-pool's end() would stop serving its
    // wait queue and cut connections still being opened, so the pool is ended only once nothing
    // is queued, connecting or checked out (bounded by connectionTimeoutMillis and the queries).
    await new Promise((resolve) => setImmediate(resolve))
    while (pool.waitingCount > 0 || pool.totalCount > pool.idleCount) await sleep(5)
    try {
      await pool.end()
    } catch (err) {
      this.#options.log.warn({ err, target }, 'ending a Postgres pool failed')
    }
    // pg-pool's end() resolves once it has asked its clients to end, not once they have: wait
    // for the sockets, so close() and the connection counts tell the truth. Bounded, in case a
    // server never answers the goodbye.
    const until = Date.now() + 5000
    while (connections.size > 0 && Date.now() < until) await sleep(5)
  }

  async #connect (name: string, record: PoolRecord): Promise<pg.PoolClient> {
    try {
      return await record.pool.connect()
    } catch (error) {
      throw connectError(name, record.target, error)
    }
  }

  // Callbacks rather than promises: this is the hot path, and it must cost no more than
  // pool.query. Unlike pool.query, a statement error keeps the connection in the pool.
  #query<R extends pg.QueryResultRow> (
    name: string, record: PoolRecord, text: string | pg.QueryConfig, values?: unknown[]
  ): Promise<pg.QueryResult<R>> {
    return new Promise((resolve, reject) => {
      record.pool.connect((connectFailure, client, release) => {
        if (connectFailure !== undefined || client === undefined) {
          reject(connectError(name, record.target, connectFailure))
          return
        }
        let broken: Error | undefined
        const onError = (err: Error) => { broken = err }
        client.once('error', onError)
        const done = (error: Error | null | undefined, result?: pg.QueryResult<R>) => {
          client.removeListener('error', onError)
          if (error && !isStatementError(error)) broken ??= error
          release(broken)
          if (error) reject(error)
          else resolve(result as pg.QueryResult<R>)
        }
        try {
          client.query<R>(text as string, values as any[], done)
        } catch (error) {
          done(error as Error)
        }
      })
    })
  }
}

// A statement error leaves the connection usable; a FATAL one or a socket error does not.
function isStatementError (error: Error): boolean {
  return error instanceof pg.DatabaseError && error.severity !== 'FATAL' && error.severity !== 'PANIC'
}

function isPool (source: DatabaseSource): source is pg.Pool {
  return typeof source === 'object' && typeof (source as pg.Pool).connect === 'function' &&
    typeof (source as pg.Pool).end === 'function'
}

function keyOf (source: DatabaseSource): string {
  return isPool(source) ? `pool:${fingerprint(source)}` : fingerprint(typeof source === 'string' ? { connectionString: source } : source)
}

function connectError (name: string, target: string, cause: unknown): Error {
  const { message, code } = (cause ?? {}) as { message?: string, code?: unknown }
  const error = new PgConnectError(name, target, message ?? String(cause))
  // A URL parse error carries the raw connection string in `input`: keep it out of the chain.
  const safeCause = cause instanceof Error && !('input' in cause) ? cause : undefined
  return Object.assign(error, {
    instance: name,
    target,
    reason: message,
    sqlState: typeof code === 'string' ? code : undefined,
    cause: safeCause
  })
}
