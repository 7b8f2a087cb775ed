import { setTimeout as sleep } from 'node:timers/promises'
import { BoundedMap, DEFAULT_MAX_ENTRIES, sweepIntervalFor } from '../bounded-map.js'
import { SingleFlight } from '../single-flight.js'
import type { ConversationKeys } from './keys.js'
import { StoreUnavailableError } from './guarded-store.js'
import type { LockStore } from './postgres-locks.js'
import type { CachedConversation, ConversationStore } from './store.js'

export interface ConversationCacheOptions {
  store: ConversationStore
  /**
   * Where the get-or-create lock is taken. Default the store; the plugin gives a chain (Redis, then the
   * Postgres lock store) so the lock survives a Redis outage where a database is configured.
   */
  locks?: LockStore
  ttlMs: number
  /** How long an id stays in this process without asking the store. */
  localTtlMs: number
  lockTtlMs: number
  /** Most ids kept in this process (least recently used go first; the store still has them). Default 100 000. */
  maxEntries?: number
  count: (event: 'lockWaits' | 'evictions', instance: string) => void
}

const FIRST_WAIT_MS = 10
const LONGEST_WAIT_MS = 200

/**
 * The conversation id per contact: an in-process layer (no round trip on the hot path) in front of
 * the shared store, exactly one get-or-create per key (single-flight in the process, a lock across
 * processes), and compare-and-delete eviction announced to the other processes.
 */
export class ConversationCache {
  readonly #store: ConversationStore
  readonly #locks: LockStore
  readonly #options: ConversationCacheOptions
  readonly #flights = new SingleFlight<string, { value: CachedConversation, created: boolean }>()
  // One entry per contact ever seen would grow without end: bounded, and swept at its own expiry.
  // A key whose get-or-create is running keeps its entry (the flight is about to refresh it).
  readonly #local: BoundedMap<string, CachedConversation>

  constructor (options: ConversationCacheOptions) {
    const { store, localTtlMs, maxEntries = DEFAULT_MAX_ENTRIES } = options
    this.#store = store
    this.#locks = options.locks ?? store
    this.#options = options
    this.#local = new BoundedMap({ maxEntries, busy: (_value, key) => this.#flights.has(key), sweepIntervalMs: sweepIntervalFor(localTtlMs) })
  }

  /** Ids this process holds now (at most maxEntries, but for keys with a get-or-create running). */
  get localEntries (): number {
    return this.#local.size
  }

  /** Drops this process's copy when another process announces a change. */
  forgetLocal (key: string): void {
    this.#local.delete(key)
  }

  async lookup (keys: ConversationKeys): Promise<CachedConversation | undefined> {
    const local = this.#local.get(keys.conversation)
    if (local !== undefined) return local
    const shared = await this.#store.get(keys.conversation).catch(ignoreUnavailable)
    if (shared !== undefined) this.#keepLocal(keys.conversation, shared)
    return shared
  }

  /** The cached conversation, or the one `create` finds or makes: one `create` per key, also across processes. */
  resolve (keys: ConversationKeys, create: () => Promise<CachedConversation>) {
    return this.#flights.run(keys.conversation, async () => {
      const cached = await this.lookup(keys)
      if (cached !== undefined) return { value: cached, created: false }
      return this.#underLock(keys, create)
    })
  }

  /** Removes `stale` wherever it is still the value, never a fresher id another worker wrote. */
  async evict (keys: ConversationKeys, stale: CachedConversation): Promise<void> {
    const local = this.#local.peek(keys.conversation)
    if (local !== undefined && same(local, stale)) this.#local.delete(keys.conversation)
    // The next resolve must not join a flight that is about to answer the stale id.
    this.#flights.forget(keys.conversation)
    const deleted = await this.#store.compareAndDelete(keys.conversation, stale).catch(ignoreUnavailable)
    if (deleted === true) {
      this.#options.count('evictions', keys.instance)
      await this.#store.announce(keys.conversation).catch(ignoreUnavailable)
    }
  }

  /** Forgets `key` (a host app that learnt of a deletion otherwise); with `onlyConversationId`, only while it holds that conversation. */
  async forget (keys: ConversationKeys, onlyConversationId?: number): Promise<void> {
    const current = this.#local.peek(keys.conversation) ?? await this.#store.get(keys.conversation).catch(ignoreUnavailable)
    if (onlyConversationId !== undefined && current !== undefined && current.conversationId !== onlyConversationId) return
    this.#local.delete(keys.conversation)
    this.#flights.forget(keys.conversation)
    if (current !== undefined) await this.evict(keys, current)
  }

  async #underLock (keys: ConversationKeys, create: () => Promise<CachedConversation>) {
    let wait = FIRST_WAIT_MS
    for (;;) {
      let token: string | undefined
      try {
        token = await this.#locks.tryLock(keys.lock, this.#options.lockTtlMs)
      } catch (error) {
        ignoreUnavailable(error)
        // No lock store available: the in-process single-flight is all the exclusion there is.
        return this.#create(keys, create)
      }
      if (token !== undefined) {
        // A get-or-create slower than the lock's life (a slow Chatwoot, retries) must not let a waiter in
        // beside it: while we hold the lock, keep pushing its expiry out. A holder that died stops doing so.
        const watchdog = setInterval(() => {
          this.#locks.extendLock(keys.lock, token!, this.#options.lockTtlMs).catch(() => {})
        }, Math.max(1, Math.floor(this.#options.lockTtlMs / 3)))
        watchdog.unref()
        try {
          // Another worker may have finished between our look and our lock.
          const cached = await this.#store.get(keys.conversation).catch(ignoreUnavailable)
          if (cached !== undefined) {
            this.#keepLocal(keys.conversation, cached)
            return { value: cached, created: false }
          }
          return await this.#create(keys, create)
        } finally {
          clearInterval(watchdog)
          await this.#locks.unlock(keys.lock, token).catch(ignoreUnavailable)
        }
      }
      // Someone else is creating it: wait for their answer, and never create beside them. The
      // lock expires on its own if its holder died, and then one waiter takes it.
      this.#options.count('lockWaits', keys.instance)
      await sleep(wait)
      wait = Math.min(wait * 2, LONGEST_WAIT_MS)
      const cached = await this.#store.get(keys.conversation).catch(ignoreUnavailable)
      if (cached !== undefined) {
        this.#keepLocal(keys.conversation, cached)
        return { value: cached, created: false }
      }
    }
  }

  async #create (keys: ConversationKeys, create: () => Promise<CachedConversation>) {
    const value = await create()
    this.#keepLocal(keys.conversation, value)
    await this.#store.set(keys.conversation, value, this.#options.ttlMs).catch(ignoreUnavailable)
    await this.#store.announce(keys.conversation).catch(ignoreUnavailable)
    return { value, created: true }
  }

  #keepLocal (key: string, value: CachedConversation): void {
    this.#local.set(key, value, this.#options.localTtlMs)
  }
}

function same (a: CachedConversation, b: CachedConversation): boolean {
  return a.conversationId === b.conversationId && a.contactId === b.contactId
}

/** A store outage is not a delivery failure: the caller goes on without the store. */
function ignoreUnavailable (error: unknown): undefined {
  if (error instanceof StoreUnavailableError) return undefined
  throw error
}
