import { randomUUID } from 'node:crypto'
import { BoundedMap, DEFAULT_MAX_ENTRIES } from '../bounded-map.js'
import { OptionsInvalidError } from '../errors.js'
import { type CachedConversation, type Claim, type ConversationStore, decode, encode, pendingClaim, readClaim } from './store.js'

// `expires` repeats the map's own expiry, so extendClaim can tell whether the key outlives the new deadline.
interface Entry { kind: 'value' | 'lock' | 'claim', value: string, expires: number }

export interface MemoryStoreOptions {
  /** Most keys kept; the least recently used idle ones go first. Default DEFAULT_MAX_ENTRIES. */
  maxEntries?: number
  /** How often a write also sweeps out every expired entry. Default 60 000. */
  pruneIntervalMs?: number
}

/**
 * One process only: what the cache falls back to without Redis. Bounded, since its keys come from
 * what users send (contacts, source_ids): past `maxEntries` the least recently used go, but a held
 * lock or a pending claim is never evicted (that would let a second worker in beside its holder).
 */
export class MemoryStore implements ConversationStore {
  readonly #entries: BoundedMap<string, Entry>
  readonly #pruneIntervalMs: number
  #nextPrune: number

  constructor (options: MemoryStoreOptions = {}) {
    const { maxEntries = DEFAULT_MAX_ENTRIES, pruneIntervalMs = 60_000 } = options
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new OptionsInvalidError('MemoryStore', `option "maxEntries" must be a positive integer, got ${String(maxEntries)}`)
    }
    if (typeof pruneIntervalMs !== 'number' || !(pruneIntervalMs >= 0)) {
      throw new OptionsInvalidError('MemoryStore', `option "pruneIntervalMs" must be a number of milliseconds >= 0, got ${String(pruneIntervalMs)}`)
    }
    this.#entries = new BoundedMap({ maxEntries, busy })
    this.#pruneIntervalMs = pruneIntervalMs
    this.#nextPrune = Date.now() + pruneIntervalMs
  }

  /** Entries held, expired ones not yet swept included. */
  get size (): number {
    return this.#entries.size
  }

  #read (key: string, kind: Entry['kind']): string | undefined {
    const entry = this.#entries.get(key)
    return entry?.kind === kind ? entry.value : undefined
  }

  #write (key: string, kind: Entry['kind'], value: string, ttlMs: number): void {
    const now = Date.now()
    // Keys read once and never again (most claims) expire unseen: sweep them now and then.
    if (now >= this.#nextPrune) {
      this.#entries.prune(now)
      this.#nextPrune = now + this.#pruneIntervalMs
    }
    this.#entries.set(key, { kind, value, expires: now + ttlMs }, ttlMs, now)
  }

  async get (key: string) {
    return decode(this.#read(key, 'value'))
  }

  async set (key: string, value: CachedConversation, ttlMs: number) {
    this.#write(key, 'value', encode(value), ttlMs)
  }

  async compareAndDelete (key: string, value: CachedConversation) {
    if (this.#read(key, 'value') !== encode(value)) return false
    this.#entries.delete(key)
    return true
  }

  async tryLock (key: string, ttlMs: number) {
    // Like SET NX: any live key refuses the lock.
    if (this.#entries.has(key)) return undefined
    const token = randomUUID()
    this.#write(key, 'lock', token, ttlMs)
    return token
  }

  async unlock (key: string, token: string) {
    if (this.#read(key, 'lock') === token) this.#entries.delete(key)
  }

  async extendLock (key: string, token: string, ttlMs: number) {
    if (this.#read(key, 'lock') !== token) return false
    this.#write(key, 'lock', token, ttlMs)
    return true
  }

  async claim (key: string, ttlMs: number, attemptTtlMs: number): Promise<Claim> {
    const now = Date.now()
    const entry = this.#entries.get(key, now)
    const state = entry === undefined ? undefined : readClaim(entry.value)
    if (entry !== undefined && (entry.kind !== 'claim' || state?.state === 'settled' || (state?.state === 'pending' && state.deadline > now))) {
      return { claimed: false, messageId: entry.kind === 'claim' && state?.state === 'settled' ? state.messageId : undefined }
    }
    const token = randomUUID()
    this.#write(key, 'claim', pendingClaim(token, now + ttlMs), Math.max(ttlMs, attemptTtlMs))
    return { claimed: true, token, takenOver: entry !== undefined }
  }

  async extendClaim (key: string, token: string, ttlMs: number) {
    const now = Date.now()
    const state = readClaim(this.#read(key, 'claim'))
    if (state?.state !== 'pending' || state.token !== token) return false
    // The key keeps its long life unless the new deadline outlasts it (like the Redis script).
    const expires = Math.max(this.#entries.peek(key, now)!.expires, now + ttlMs)
    this.#write(key, 'claim', pendingClaim(token, now + ttlMs), expires - now)
    return true
  }

  async settle (key: string, messageId: number, ttlMs: number) {
    this.#write(key, 'claim', String(messageId), ttlMs)
  }

  async release (key: string, token: string) {
    const state = readClaim(this.#read(key, 'claim'))
    if (state?.state === 'pending' && state.token === token) this.#entries.delete(key)
  }

  async announce () {}

  async listen () {
    return async () => {}
  }
}

/** Held locks and claims still pending are work in flight; a claim past its deadline is only a marker. */
function busy (entry: Entry): boolean {
  if (entry.kind === 'lock') return true
  if (entry.kind !== 'claim') return false
  const state = readClaim(entry.value)
  return state?.state === 'pending' && state.deadline > Date.now()
}
