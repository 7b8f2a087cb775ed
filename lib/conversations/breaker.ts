import { BoundedMap, DEFAULT_MAX_ENTRIES, sweepIntervalFor } from '../bounded-map.js'

export interface BreakerOptions {
  /** Failed recoveries within `windowMs` that open the breaker. Default 5. */
  failures?: number
  windowMs?: number
  /** How long an open breaker refuses to evict. Default 30 000. */
  cooldownMs?: number
}

/**
 * Per instance: recoveries that keep failing (a 404 that outlives a fresh conversation: wrong
 * account or URL) stop evicting for a while, so a misconfiguration cannot become an eviction storm.
 * Both maps are bounded and their entries expire with what they describe (the window, the
 * cooldown): an instance that failed once a month ago costs nothing.
 */
export class RecoveryBreaker {
  readonly #failures: number
  readonly #windowMs: number
  readonly #cooldownMs: number
  readonly #recent: BoundedMap<string, number[]>
  readonly #openUntil: BoundedMap<string, true>

  /** `maxEntries`: most instances tracked in each map; the least recently failing go first. */
  constructor ({ failures = 5, windowMs = 60_000, cooldownMs = 30_000 }: BreakerOptions = {}, maxEntries = DEFAULT_MAX_ENTRIES) {
    this.#failures = failures
    this.#windowMs = windowMs
    this.#cooldownMs = cooldownMs
    this.#recent = new BoundedMap({ maxEntries, sweepIntervalMs: sweepIntervalFor(windowMs) })
    this.#openUntil = new BoundedMap({ maxEntries, sweepIntervalMs: sweepIntervalFor(cooldownMs) })
  }

  isOpen (instance: string, now = Date.now()): boolean {
    return this.#openUntil.has(instance, now)
  }

  failed (instance: string, now = Date.now()): void {
    const recent = (this.#recent.get(instance, now) ?? []).filter((at) => at > now - this.#windowMs)
    recent.push(now)
    if (recent.length >= this.#failures) {
      this.#openUntil.set(instance, true, this.#cooldownMs, now)
      this.#recent.delete(instance)
    } else {
      // The window ends windowMs after its newest failure: then none of them counts any more.
      this.#recent.set(instance, recent, this.#windowMs, now)
    }
  }

  succeeded (instance: string): void {
    this.#recent.delete(instance)
  }

  /** Instances with failures in their window, and instances open now (expired ones may linger until swept). */
  get tracked (): { recent: number, open: number } {
    return { recent: this.#recent.size, open: this.#openUntil.size }
  }
}
