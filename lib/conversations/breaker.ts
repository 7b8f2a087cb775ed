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
 */
export class RecoveryBreaker {
  readonly #failures: number
  readonly #windowMs: number
  readonly #cooldownMs: number
  readonly #recent = new Map<string, number[]>()
  readonly #openUntil = new Map<string, number>()

  constructor ({ failures = 5, windowMs = 60_000, cooldownMs = 30_000 }: BreakerOptions = {}) {
    this.#failures = failures
    this.#windowMs = windowMs
    this.#cooldownMs = cooldownMs
  }

  isOpen (instance: string, now = Date.now()): boolean {
    return (this.#openUntil.get(instance) ?? 0) > now
  }

  failed (instance: string, now = Date.now()): void {
    const recent = (this.#recent.get(instance) ?? []).filter((at) => at > now - this.#windowMs)
    recent.push(now)
    this.#recent.set(instance, recent)
    if (recent.length >= this.#failures) {
      this.#openUntil.set(instance, now + this.#cooldownMs)
      this.#recent.delete(instance)
    }
  }

  succeeded (instance: string): void {
    this.#recent.delete(instance)
  }
}
