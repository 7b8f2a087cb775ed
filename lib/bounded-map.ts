// Every in-process map keyed by something users send (contacts, instances, source_ids) is one of
// these: a Map in least-recently-used order with a size bound and optional expiry, so a gateway
// that sees millions of contacts a month keeps a bounded heap. An entry whose work is still in
// flight (a queued delivery, a held lock, a running flight) is never the one evicted.

export interface BoundedMapOptions<K, V> {
  /** Most entries kept; the least recently used go first. */
  maxEntries: number
  /** An entry for which this answers true is skipped by eviction (its work is in flight). */
  busy?: (value: V, key: K) => boolean
  /**
   * Every this many milliseconds, while the map holds entries, an unref'd timer drops the expired
   * ones: keys never read again (a contact who wrote once) would otherwise sit there until evicted
   * by the bound. Without it, expired entries go when read or when the bound needs room.
   */
  sweepIntervalMs?: number
  /**
   * Called with each entry the bound pushes out (not for delete, clear or expiry), for values that
   * hold something to release (a connection pool): dropping it from the map alone would leak that.
   */
  onEvict?: (value: V, key: K) => void
}

interface Slot<V> { value: V, expiresAt: number }

export const DEFAULT_MAX_ENTRIES = 100_000

const MIN_SWEEP_MS = 1000

/** A sweep walks every entry: as often as entries expire (`ttlMs`), but at most once a second. */
export function sweepIntervalFor (ttlMs: number): number {
  return Number.isFinite(ttlMs) && ttlMs > MIN_SWEEP_MS ? ttlMs : MIN_SWEEP_MS
}

export class BoundedMap<K, V> {
  readonly #slots = new Map<K, Slot<V>>()
  readonly #maxEntries: number
  readonly #busy: ((value: V, key: K) => boolean) | undefined
  readonly #sweepIntervalMs: number | undefined
  readonly #onEvict: ((value: V, key: K) => void) | undefined
  #sweeper: NodeJS.Timeout | undefined
  #cursor: Iterator<[K, Slot<V>]> | undefined
  // The key at the young end, when known: reading it again needs no move. Per-instance maps are read
  // with the same key by every delivery, and a delete plus a set per read was a visible cost there.
  #youngest: K | undefined

  constructor ({ maxEntries, busy, sweepIntervalMs, onEvict }: BoundedMapOptions<K, V>) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${String(maxEntries)}`)
    if (sweepIntervalMs !== undefined && !(Number.isFinite(sweepIntervalMs) && sweepIntervalMs > 0)) {
      throw new RangeError(`sweepIntervalMs must be a number of milliseconds > 0, got ${String(sweepIntervalMs)}`)
    }
    this.#maxEntries = maxEntries
    this.#busy = busy
    this.#sweepIntervalMs = sweepIntervalMs
    this.#onEvict = onEvict
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
      this.delete(key)
      return undefined
    }
    // Re-inserting moves the key to the young end of the Map's order.
    if (this.#youngest !== key) {
      this.#slots.delete(key)
      this.#slots.set(key, slot)
      this.#youngest = key
    }
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
    this.#youngest = key
    if (this.#slots.size > this.#maxEntries) this.#shrink(now)
    if (this.#sweeper === undefined && this.#sweepIntervalMs !== undefined && ttlMs !== Infinity) this.#sweeper = BoundedMap.#sweep(this, this.#sweepIntervalMs)
    return this
  }

  delete (key: K): boolean {
    if (key === this.#youngest) this.#youngest = undefined
    return this.#slots.delete(key)
  }

  clear (): void {
    this.#youngest = undefined
    this.#slots.clear()
    this.#cursor = undefined
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
        this.delete(key)
        dropped++
      }
    }
    return dropped
  }

  // The timer holds the map only weakly: a map its owner dropped is collected, and its timer ends.
  static #sweep (map: BoundedMap<any, any>, intervalMs: number): NodeJS.Timeout {
    const ref = new WeakRef(map)
    const timer: NodeJS.Timeout = setInterval(() => {
      const live = ref.deref()
      live?.prune()
      if (live === undefined || live.#slots.size === 0) {
        clearInterval(timer)
        if (live !== undefined) live.#sweeper = undefined
      }
    }, intervalMs)
    timer.unref()
    return timer
  }

  #shrink (now: number): void {
    // From the least recently used end, the first entries that are expired or idle go. A busy one
    // is in use, so it moves to the young end: the next shrink does not walk past it again. Each
    // entry is looked at once (a moved one comes round again in this loop), so a map whose every
    // entry is busy ends the walk and exceeds the bound until that work ends: losing work is worse.
    let excess = this.#slots.size - this.#maxEntries
    for (let unvisited = this.#slots.size; excess > 0 && unvisited > 0; unvisited--) {
      const oldest = this.#oldest()
      if (oldest === undefined) return
      const [key, slot] = oldest
      this.delete(key)
      if (slot.expiresAt <= now || this.#busy === undefined || !this.#busy(slot.value, key)) {
        excess--
        this.#onEvict?.(slot.value, key)
      } else {
        this.#slots.set(key, slot)
        this.#youngest = key
      }
    }
  }

  // A Map keeps deleted slots until it compacts itself, and a fresh iteration walks past all of
  // them: at the bound that made every set cost as much as the whole map (10x slower over a million
  // contacts). One cursor kept across evictions starts where the last stopped: every entry before
  // it has been evicted or moved to the young end, so the oldest live entry is the next one.
  #oldest (): [K, Slot<V>] | undefined {
    let step = this.#cursor?.next()
    if (step === undefined || step.done === true) {
      this.#cursor = this.#slots.entries()
      step = this.#cursor.next()
    }
    return step.done === true ? undefined : step.value
  }
}
