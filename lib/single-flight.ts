// Concurrent callers asking for the same key share one in-flight promise. A failure is handed
// to every caller of that flight and then forgotten, so the next call starts afresh.
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

  // Inputs changed under a running flight: the next `run` must not join the old one.
  forget (key: K): void {
    this.#flights.delete(key)
  }

  /** Settles once every flight running now has settled, whatever its outcome. */
  async settled (): Promise<void> {
    await Promise.allSettled(this.#flights.values())
  }
}
