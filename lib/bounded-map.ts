// Every in-process map keyed by something users send (contacts, instances, source_ids) is one of
// these: a Map in least-recently-used order with a size bound and optional expiry, so a gateway
// that sees millions of contacts a month keeps a bounded heap. An entry whose work is still in
// flight (a queued delivery, a held lock, a running flight) is never the one evicted.

export interface BoundedMapOptions<K, V> {
  /** Most entries kept; the least recently used go first. */
  maxEntries: number
  /** An entry for which this answers true is skipped by eviction (its work is in flight). */
  busy?: (value: V, key: K) => boolean
}

interface Slot<V> { value: V, expiresAt: number }

export const DEFAULT_MAX_ENTRIES = 100_000

export class BoundedMap<K, V> {
  readonly #slots = new Map<K, Slot<V>>()
  readonly #maxEntries: number
  readonly #busy: ((value: V, key: K) => boolean) | undefined

  constructor ({ maxEntries, busy }: BoundedMapOptions<K, V>) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${String(maxEntries)}`)
    this.#maxEntries = maxEntries
    this.#busy = busy
  }

  get size (): number {
    return this.#slots.size
  }

  get maxEntries (): number {
    return this.#maxEntries
  }

  /** The live value of `key` (expired entries are dropped on sight), marked as recently used. */
  get (key: K, now = Date.now()): V | undefined {
    const slot = this.#slots.get(key)
    if (slot === undefined) return undefined
    if (slot.expiresAt <= now) {
      this.#slots.delete(key)
      return undefined
    }
    // Re-inserting moves the key to the young end of the Map's order.
    this.#slots.delete(key)
    this.#slots.set(key, slot)
    return slot.value
  }

  /** Like `get`, without refreshing its place (for checks that are not a use). */
  peek (key: K, now = Date.now()): V | undefined {
    const slot = this.#slots.get(key)
    return slot === undefined || slot.expiresAt <= now ? undefined : slot.value
  }

  has (key: K, now = Date.now()): boolean {
    return this.peek(key, now) !== undefined
  }

  /** Stores `value`, for `ttlMs` when given; then evicts the oldest idle entries over the bound. */
  set (key: K, value: V, ttlMs = Infinity, now = Date.now()): this {
    this.#slots.delete(key)
    this.#slots.set(key, { value, expiresAt: now + ttlMs })
    if (this.#slots.size > this.#maxEntries) this.#shrink(now)
    return this
  }

  delete (key: K): boolean {
    return this.#slots.delete(key)
  }

  clear (): void {
    this.#slots.clear()
  }

  * values (): IterableIterator<V> {
    for (const slot of this.#slots.values()) yield slot.value
  }

  * entries (): IterableIterator<[K, V]> {
    for (const [key, slot] of this.#slots) yield [key, slot.value]
  }

  /** Drops every expired entry (a sweep for maps whose keys are rarely read again). */
  prune (now = Date.now()): number {
    let dropped = 0
    for (const [key, slot] of this.#slots) {
      if (slot.expiresAt <= now) {
        this.#slots.delete(key)
        dropped++
      }
    }
    return dropped
  }

  #shrink (now: number): void {
    // Expired entries go first wherever they are; then the least recently used idle ones. A map
    // whose every entry is busy may exceed the bound until that work ends: losing work is worse.
    let excess = this.#slots.size - this.#maxEntries
    for (const [key, slot] of this.#slots) {
      if (excess <= 0) return
      if (slot.expiresAt <= now || this.#busy === undefined || !this.#busy(slot.value, key)) {
        this.#slots.delete(key)
        excess--
      }
    }
  }
}
