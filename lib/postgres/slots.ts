import type pg from 'pg'
import { PgClosedError } from '../errors.js'
import { PoolDrain } from './drain.js'
import type { PoolRecord } from './pool-record.js'
import type { PoolSetLog } from './types.js'

// The policy bounding connections: at most maxPools pools of ours at once, counting those still
// opening and those still draining, the least recently used given up for a newcomer.

export interface SlotsHost {
  isClosed (): boolean
  /** The open pools made here, published ones only. */
  owned (): PoolRecord[]
  /** Unbinds and drains a pool (once, however often asked). */
  retire (record: PoolRecord): Promise<void>
}

export class PoolSlots {
  readonly #maxPools: number
  readonly #log: PoolSetLog
  // Pools being drained, until their last connection has closed.
  readonly #draining = new Map<pg.Pool, { record: PoolRecord, drain: PoolDrain, done: Promise<void> }>()
  // Pools connecting for the first time: they count against maxPools before they are published.
  #opening = 0
  // Openers waiting for a slot: woken when a pool finishes opening or draining.
  readonly #openers: Array<() => void> = []

  constructor (maxPools: number, log: PoolSetLog) {
    this.#maxPools = maxPools
    this.#log = log
  }

  /**
   * Takes one of the maxPools slots, giving up the least recently used pools for it. A pool
   * being drained keeps its slot until its last connection has closed, and so does one still
   * opening: the slots bound the connections, not just the pools. Give it back with `opened`.
   */
  async take (name: string, host: SlotsHost): Promise<void> {
    for (;;) {
      if (host.isClosed()) throw new PgClosedError(name)
      const owned = host.owned()
      if (owned.length + this.#draining.size + this.#opening < this.#maxPools) {
        this.#opening++
        return
      }
      // Pools already draining will free slots for openers waiting before this one; retire
      // only for the demand they do not cover, so no pool is given up twice over.
      const needed = this.#openers.length + 1 - this.#draining.size
      for (const record of owned.sort((a, b) => a.lastUsed - b.lastUsed).slice(0, Math.max(0, needed))) host.retire(record)
      // Woken when a drain ends or an opening finishes.
      await new Promise<void>((resolve) => this.#openers.push(resolve))
    }
  }

  /** The opening that took a slot has finished, published or failed. */
  opened (): void {
    this.#opening--
    this.wake()
  }

  wake (): void {
    for (const wake of this.#openers.splice(0)) wake()
  }

  /** Drains `record`'s pool, keeping its slot until its sockets have closed. */
  drain (record: PoolRecord): { started: boolean, done: Promise<void> } {
    const running = this.#draining.get(record.pool)
    if (running !== undefined) return { started: false, done: running.done }
    this.#log.debug({ target: record.target }, 'draining and ending a Postgres pool')
    const drain = new PoolDrain(record, this.#log)
    const done = drain.done.finally(() => {
      this.#draining.delete(record.pool)
      this.wake()
    })
    this.#draining.set(record.pool, { record, drain, done })
    return { started: true, done }
  }

  /** `pool` changed its counts without an event (a failed connect): a drain waiting on it looks again. */
  nudge (pool: pg.Pool): void {
    this.#draining.get(pool)?.drain.nudge()
  }

  /** Connections of pools being drained, until their sockets have closed. */
  drainingConnections (): number {
    let total = 0
    for (const { record } of this.#draining.values()) total += record.connections.size
    return total
  }

  /** Resolves once no pool is draining, including drains started while waiting. */
  async drained (): Promise<void> {
    while (this.#draining.size > 0) await Promise.all([...this.#draining.values()].map(({ done }) => done))
  }
}

/** Pools of ours nobody has taken for `idleTimeoutMs`, with no query running or waiting. */
export function idlePools (records: Iterable<PoolRecord>, idleTimeoutMs: number, now = Date.now()): PoolRecord[] {
  const before = now - idleTimeoutMs
  const idle: PoolRecord[] = []
  for (const record of records) {
    const { pool } = record
    const busy = pool.totalCount > pool.idleCount || pool.waitingCount > 0
    if (record.owned && record.lastUsed < before && !busy) idle.push(record)
  }
  return idle
}
