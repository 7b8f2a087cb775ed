import { performance } from 'node:perf_hooks'

/** Something with a deadline: linked in arrival order, told once when its time is up. */
export interface Expiring {
  deadline: number
  next: Expiring | undefined
  /** Set by the owner when it finished in time (or expired): it is skipped and unlinked. */
  settled: boolean
  expire (): void
}

/**
 * One timer for every attempt of a client. A client gives each attempt the same duration, so deadlines
 * come due in the order attempts start: a linked list in arrival order is sorted without sorting, and one
 * timer armed for the oldest unsettled deadline bounds them all exactly (to the millisecond, like a
 * timer of its own). It replaced an AbortController, its signal and a timer per attempt, which a CPU
 * profile put at 4.6% of the process.
 */
export class Deadlines {
  readonly #durationMs: number
  #head: Expiring | undefined
  #tail: Expiring | undefined
  #pending = 0
  #timer: NodeJS.Timeout | undefined

  constructor (durationMs: number) {
    this.#durationMs = durationMs
  }

  /** Entries not yet settled. */
  get pending (): number {
    return this.#pending
  }

  add (entry: Expiring): void {
    entry.deadline = performance.now() + this.#durationMs
    entry.next = undefined
    entry.settled = false
    if (this.#tail === undefined) this.#head = entry
    else this.#tail.next = entry
    this.#tail = entry
    this.#pending++
    if (this.#timer === undefined) this.#arm(this.#durationMs)
  }

  /** Marks `entry` finished; the oldest finished entries are unlinked at once, so nothing they hold waits for the timer. */
  settle (entry: Expiring): void {
    if (entry.settled) return
    entry.settled = true
    if (--this.#pending === 0) {
      // Nothing in flight: no timer keeps the process alive, as none did once a request ended.
      if (this.#timer !== undefined) clearTimeout(this.#timer)
      this.#timer = undefined
      this.#head = this.#tail = undefined
      return
    }
    while (this.#head !== undefined && this.#head.settled) this.#head = this.#head.next
  }

  #arm (inMs: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(inMs)))
  }

  readonly #fire = (): void => {
    this.#timer = undefined
    const now = performance.now()
    const due: Expiring[] = []
    let entry = this.#head
    while (entry !== undefined && (entry.settled || entry.deadline <= now)) {
      if (!entry.settled) due.push(entry)
      entry = entry.next
    }
    this.#head = entry
    if (entry === undefined) this.#tail = undefined
    else this.#arm(entry.deadline - now)
    // After the list is consistent: expiring settles the entry, which may empty the list.
    for (const expired of due) expired.expire()
  }
}
