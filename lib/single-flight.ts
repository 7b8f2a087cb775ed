// Concurrent callers asking for the same key share one in-flight promise. A failure is handed
// to every caller of that flight and then forgotten, so the next call starts afresh. The map holds
// only running flights (each removes itself when it settles, whatever the outcome): it needs no
// bound of its own, and the caches beside it ask `has` to keep a key with a flight from eviction.
export class SingleFlight<K, V> {
  readonly #flights = new Map<K, Promise<V>>()

  run (key: K, work: () => Promise<V>): Promise<V> {
    const running = this.#flights.get(key)
    if (running !== undefined) return running
    const flight = Promise.resolve().then(work).finally(() => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key)
    })
    this.#flights.set(key, flight)
    return flight
  }

  /** Whether a flight for `key` is running now (its work is in flight). */
  has (key: K): boolean {
    return this.#flights.has(key)
  }

  get size (): number {
    return this.#flights.size
  }

  // Inputs changed under a running flight: the next `run` must not join the old one.
  forget (key: K): void {
    this.#flights.delete(key)
  }

  /** Settles once every flight running now has settled, whatever its outcome. */
  async settled (): Promise<void> {
    await Promise.allSettled(this.#flights.values())
  }
}
