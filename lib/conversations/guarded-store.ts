import { setTimeout as sleep } from 'node:timers/promises'
import type { CachedConversation, Claim, ConversationStore } from './store.js'

export interface StoreHealth {
  /** Every failed or unanswered call. */
  failed (): void
  /** The store failed or did not answer in time: the first failure of an outage. */
  down (error: unknown): void
  /** The store answered again after an outage. */
  up (): void
}

/** Thrown instead of waiting on a store that is down; callers carry on without it. */
export class StoreUnavailableError extends Error {
  constructor (cause?: unknown) {
    super('conversation store unavailable', { cause })
    this.name = 'StoreUnavailableError'
  }
}

/**
 * Bounds every store call: a Redis that is not connected is not asked at all (ioredis would queue
 * the command and run it, stale, when it comes back), and one that does not answer within
 * `timeoutMs` counts as down. Outages are reported once, and their end once.
 */
export class GuardedStore implements ConversationStore {
  readonly #store: ConversationStore
  readonly #ready: () => boolean
  readonly #timeoutMs: number
  readonly #health: StoreHealth
  #healthy = true

  constructor (store: ConversationStore, options: { ready: () => boolean, timeoutMs: number, health: StoreHealth }) {
    this.#store = store
    this.#ready = options.ready
    this.#timeoutMs = options.timeoutMs
    this.#health = options.health
  }

  get healthy (): boolean {
    return this.#healthy
  }

  async #run<T> (call: () => Promise<T>): Promise<T> {
    if (!this.#ready()) return this.#failed(new Error('not connected'))
    const timer = new AbortController()
    try {
      const result = await Promise.race([
        call(),
        sleep(this.#timeoutMs, undefined, { signal: timer.signal }).then(() => { throw new Error(`no answer within ${this.#timeoutMs} ms`) })
      ])
      if (!this.#healthy) {
        this.#healthy = true
        this.#health.up()
      }
      return result
    } catch (error) {
      return this.#failed(error)
    } finally {
      timer.abort()
    }
  }

  #failed (error: unknown): never {
    this.#health.failed()
    if (this.#healthy) {
      this.#healthy = false
      this.#health.down(error)
    }
    throw new StoreUnavailableError(error)
  }

  get (key: string) { return this.#run(() => this.#store.get(key)) }
  set (key: string, value: CachedConversation, ttlMs: number) { return this.#run(() => this.#store.set(key, value, ttlMs)) }
  compareAndDelete (key: string, value: CachedConversation) { return this.#run(() => this.#store.compareAndDelete(key, value)) }
  tryLock (key: string, ttlMs: number) { return this.#run(() => this.#store.tryLock(key, ttlMs)) }
  unlock (key: string, token: string) { return this.#run(() => this.#store.unlock(key, token)) }
  claim (key: string, ttlMs: number): Promise<Claim> { return this.#run(() => this.#store.claim(key, ttlMs)) }
  settle (key: string, messageId: number, ttlMs: number) { return this.#run(() => this.#store.settle(key, messageId, ttlMs)) }
  release (key: string) { return this.#run(() => this.#store.release(key)) }
  announce (key: string) { return this.#run(() => this.#store.announce(key)) }
  listen (listener: (key: string) => void) { return this.#store.listen(listener) }
}
