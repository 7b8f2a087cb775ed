import type pg from 'pg'
import type { PoolSetLog } from './types.js'

// The mechanism of ending a pool without cutting anyone off, driven by pg-pool's own events.
// Which pools to end, and when, is the caller's policy (slots.ts, pool-set.ts).

/** How long the sockets of an ended pool are awaited, in case a server never answers the goodbye. */
const SOCKETS_CLOSE_MS = 5000
/** The safety check's pace when the pool sets no connectionTimeoutMillis. */
const UNTIMED_CHECK_MS = 1000

/** Connections of a pool until their socket has closed (pg-pool forgets them earlier). */
export class Connections {
  readonly #open = new Set<pg.Client>()
  #onEmpty: Array<() => void> = []

  track (pool: pg.Pool): void {
    pool.on('connect', (client) => {
      this.#open.add(client)
      client.once('end', () => {
        this.#open.delete(client)
        if (this.#open.size === 0) for (const wake of this.#onEmpty.splice(0)) wake()
      })
    })
  }

  get size (): number {
    return this.#open.size
  }

  /** Resolves once every socket has closed, or after `timeoutMs`. */
  closed (timeoutMs: number): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.#onEmpty = this.#onEmpty.filter((wake) => wake !== done)
        resolve()
      }, timeoutMs)
      this.#onEmpty.push(done)
    })
  }
}

export interface Drainable {
  readonly pool: pg.Pool
  readonly target: string
  readonly connections: Connections
}

/** One pool being drained: `done` resolves once it is ended and its sockets have closed. */
export class PoolDrain {
  readonly done: Promise<void>
  #check: () => void = () => {}

  constructor (record: Drainable, log: PoolSetLog) {
    this.done = this.#run(record, log)
  }

  /**
   * Look again now: a connection attempt failed or a waiter gave up, which pg-pool counts
   * without an event.
   */
  nudge (): void {
    this.#check()
  }

  async #run ({ pool, target, connections }: Drainable, log: PoolSetLog): Promise<void> {
    // Callers handed this pool just before it was retired take their connection in the promise
    // callbacks already queued: let them run first. Then pg-pool's end() would stop serving its
    // wait queue and cut connections still being opened, so the pool is ended only once nothing
    // is queued, connecting or checked out (bounded by connectionTimeoutMillis and the queries).
    await new Promise((resolve) => setImmediate(resolve))
    await this.#quiet(pool)
    try {
      await pool.end()
    } catch (err) {
      log.warn({ err, target }, 'ending a Postgres pool failed')
    }
    // pg-pool's end() resolves once it has asked its clients to end, not once they have: wait
    // for the sockets, so close() and the connection counts tell the truth.
    await connections.closed(SOCKETS_CLOSE_MS)
  }

  #quiet (pool: pg.Pool): Promise<void> {
    return new Promise((resolve) => {
      // pg-pool emits 'release' before it files the client as idle or removes it, and its
      // counts settle in the same tick: look once that tick is over.
      const later = () => setImmediate(check)
      // A waiter timing out and a new connection failing change the counts silently. Both
      // happen within connectionTimeoutMillis, so a look at that pace catches them (our own
      // failed connects nudge at once); every other change comes with an event.
      const every = (pool as { options?: { connectionTimeoutMillis?: number } }).options?.connectionTimeoutMillis
      const safety = setInterval(check, every !== undefined && every > 0 ? every : UNTIMED_CHECK_MS)
      function check () {
        if (pool.waitingCount > 0 || pool.totalCount > pool.idleCount) return
        clearInterval(safety)
        pool.removeListener('release', later)
        pool.removeListener('remove', later)
        resolve()
      }
      this.#check = later
      pool.on('release', later)
      pool.on('remove', later)
      check()
    })
  }
}
