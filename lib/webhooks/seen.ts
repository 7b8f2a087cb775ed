import type { Cluster, Redis } from 'ioredis'
import { BoundedMap } from '../bounded-map.js'

/**
 * Remembers the deliveries and messages already taken, so a webhook Chatwoot sends twice (or a
 * replayed signed request inside the window) runs the host's handler once.
 */
export interface SeenStore {
  /** True the first time `key` is marked within `ttlMs`; false when it was marked already. */
  first (key: string, ttlMs: number): Promise<boolean>
  /** Unmarks `key`: its work was refused before it started, so Chatwoot's next try must run. */
  forget (key: string): Promise<void>
}

/** Shared by every process on one Redis: SET NX with an expiry, one round trip. */
export class RedisSeen implements SeenStore {
  readonly #redis: Redis | Cluster
  readonly #prefix: string

  constructor (redis: Redis | Cluster, prefix: string) {
    this.#redis = redis
    this.#prefix = prefix
  }

  async first (key: string, ttlMs: number): Promise<boolean> {
    return (await this.#redis.set(`${this.#prefix}${key}`, '1', 'PX', ttlMs, 'NX')) === 'OK'
  }

  async forget (key: string): Promise<void> {
    await this.#redis.del(`${this.#prefix}${key}`)
  }
}

/** One process only: enough for a single replica, and for tests of the logic above it. */
export class MemorySeen implements SeenStore {
  readonly #keys: BoundedMap<string, true>

  constructor (maxEntries = 100_000) {
    this.#keys = new BoundedMap({ maxEntries, sweepIntervalMs: 60_000 })
  }

  async first (key: string, ttlMs: number): Promise<boolean> {
    if (this.#keys.has(key)) return false
    this.#keys.set(key, true, ttlMs)
    return true
  }

  async forget (key: string): Promise<void> {
    this.#keys.delete(key)
  }
}
