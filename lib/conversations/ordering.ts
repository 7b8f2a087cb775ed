/**
 * Runs work for one key strictly one after another, in the order it was queued, whatever each
 * outcome: a conversation's messages are posted in the order deliver() was called, also while one
 * of them is retrying or recovering. Different keys run in parallel.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>()

  run<T> (key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    const result = previous.then(work, work)
    const tail = result.then(() => {}, () => {})
    this.#tails.set(key, tail)
    // The last one out removes the key, so idle contacts cost no memory.
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return result
  }

  get size (): number {
    return this.#tails.size
  }
}
