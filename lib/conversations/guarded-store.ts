import type { CachedConversation, Claim, ConversationStore } from './store.js'

export interface StoreHealth {
  /** Every call that failed at the store or went unanswered (calls skipped during an outage are not counted). */
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

// While the store is down, one call a second is let through to see whether it is back.
const PROBE_INTERVAL_MS = 1000

export interface GuardedStoreOptions {
  ready: () => boolean
  timeoutMs: number
  health: StoreHealth
  /** While down, how often one call is let through to the store. Default 1000. */
  probeIntervalMs?: number
}

/**
 * Bounds calls to one backing service (Redis, the Postgres lock store): one that is not connected is not
 * asked at all, one that does not answer within `timeoutMs` counts as down, and while it is down calls
 * fail at once but for one probe a second, so a delivery waits out the timeout at most once. Outages are
 * reported once, and their end once.
 */
export class OutageGuard {
  readonly #ready: () => boolean
  readonly #timeoutMs: number
  readonly #health: StoreHealth
  readonly #probeIntervalMs: number
  #healthy = true
  #nextProbe = 0

  constructor (options: GuardedStoreOptions) {
    this.#ready = options.ready
    this.#timeoutMs = options.timeoutMs
    this.#health = options.health
    this.#probeIntervalMs = options.probeIntervalMs ?? PROBE_INTERVAL_MS
  }

  get healthy (): boolean {
    return this.#healthy
  }

  async run<T> (call: (abandoned: AbortSignal) => Promise<T>): Promise<T> {
    if (!this.#ready()) return this.#skipped(new Error('not connected'))
    if (!this.#healthy) {
      if (Date.now() < this.#nextProbe) return this.#skipped(new Error('down; waiting to probe again'))
      this.#nextProbe = Date.now() + this.#probeIntervalMs
    }
    const abandoned = new AbortController()
    try {
      const result = await new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          // The command may still run later; the store undoes what it would leave behind.
          abandoned.abort()
          reject(new Error(`no answer within ${this.#timeoutMs} ms`))
        }, this.#timeoutMs)
        call(abandoned.signal).then(
          (value) => { clearTimeout(timer); resolve(value) },
          (error) => { clearTimeout(timer); reject(error) })
      })
      if (!this.#healthy) {
        this.#healthy = true
        this.#health.up()
      }
      return result
    } catch (error) {
      return this.#failed(error)
    }
  }

  /** A call that failed at the store, or that it did not answer in time. */
  #failed (error: unknown): never {
    this.#health.failed()
    return this.#skipped(error)
  }

  /** A call not made: the store is known to be down. */
  #skipped (error: unknown): never {
    if (this.#healthy) {
      this.#healthy = false
      this.#nextProbe = Date.now() + this.#probeIntervalMs
      this.#health.down(error)
    }
    throw new StoreUnavailableError(error)
  }
}

/** The conversation store behind an OutageGuard (ioredis queues commands while disconnected: see `ready`). */
export class GuardedStore implements ConversationStore {
  readonly #store: ConversationStore
  readonly #guard: OutageGuard

  constructor (store: ConversationStore, options: GuardedStoreOptions) {
    this.#store = store
    this.#guard = new OutageGuard(options)
  }

  get healthy (): boolean {
    return this.#guard.healthy
  }

  #run<T> (call: (abandoned: AbortSignal) => Promise<T>): Promise<T> {
    return this.#guard.run(call)
  }

  /** Any other call on the same Redis (the alias map's), bounded and counted like the store's own. */
  guard<T> (call: (abandoned: AbortSignal) => Promise<T>): Promise<T> { return this.#run(call) }

  get (key: string) { return this.#run(() => this.#store.get(key)) }
  set (key: string, value: CachedConversation, ttlMs: number) { return this.#run((abandoned) => this.#store.set(key, value, ttlMs, abandoned)) }
  compareAndDelete (key: string, value: CachedConversation) { return this.#run(() => this.#store.compareAndDelete(key, value)) }
  tryLock (key: string, ttlMs: number) { return this.#run((abandoned) => this.#store.tryLock(key, ttlMs, abandoned)) }
  unlock (key: string, token: string) { return this.#run(() => this.#store.unlock(key, token)) }
  extendLock (key: string, token: string, ttlMs: number) { return this.#run(() => this.#store.extendLock(key, token, ttlMs)) }
  claim (key: string, ttlMs: number, attemptTtlMs: number): Promise<Claim> {
    return this.#run((abandoned) => this.#store.claim(key, ttlMs, attemptTtlMs, abandoned))
  }

  extendClaim (key: string, token: string, ttlMs: number) { return this.#run(() => this.#store.extendClaim(key, token, ttlMs)) }
  settle (key: string, messageId: number, ttlMs: number) { return this.#run(() => this.#store.settle(key, messageId, ttlMs)) }
  release (key: string, token: string) { return this.#run(() => this.#store.release(key, token)) }
  announce (key: string) { return this.#run(() => this.#store.announce(key)) }
  listen (listener: (key: string) => void) { return this.#store.listen(listener) }
}
