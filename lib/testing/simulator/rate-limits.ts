import { SimulatorOptionsInvalidError } from './errors.js'

export interface RateLimitOptions {
  /** Requests per client address per minute, as rack-attack's `req/ip` (Chatwoot's RACK_ATTACK_LIMIT, 3000). */
  requestsPerMinute?: number
  /** `/contacts/search` calls per account per minute (Chatwoot's default 100). */
  searchesPerMinute?: number
}

const MINUTE_MS = 60_000
const SEARCH = /^\/api\/v1\/accounts\/(\d+)\/contacts\/search/

function limit (name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (!(Number.isInteger(value) && (value as number) > 0)) {
    throw new SimulatorOptionsInvalidError(`rateLimits.${name}`, `expected a positive integer, got ${String(value)}`)
  }
  return value as number
}

/**
 * rack-attack's throttles: fixed windows aligned to the clock's minutes (so a burst across a minute
 * boundary gets through twice), every request counted, throttled ones too. Unlike Chatwoot, loopback
 * addresses are throttled as well, so tests on 127.0.0.1 can meet the 429.
 */
export class RateLimits {
  readonly #requests: number | undefined
  readonly #searches: number | undefined
  readonly #counts = new Map<string, number>()
  #window = -1

  constructor (options: RateLimitOptions | undefined) {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new SimulatorOptionsInvalidError('rateLimits', `expected an object, got ${String(options)}`)
    }
    this.#requests = limit('requestsPerMinute', options?.requestsPerMinute)
    this.#searches = limit('searchesPerMinute', options?.searchesPerMinute)
  }

  get enabled (): boolean {
    return this.#requests !== undefined || this.#searches !== undefined
  }

  /** Counts the request; true when it must be answered 429. */
  throttled (ip: string, path: string, now = Date.now()): boolean {
    const window = Math.floor(now / MINUTE_MS)
    if (window !== this.#window) {
      this.#window = window
      this.#counts.clear()
    }
    // rack-attack stops at the first throttle that refuses: the later ones do not count that request.
    if (this.#requests !== undefined && this.#count(`ip:${ip}`) > this.#requests) return true
    const account = this.#searches === undefined ? null : SEARCH.exec(path)
    return account !== null && this.#count(`search:${account[1]}`) > this.#searches!
  }

  #count (key: string): number {
    const count = (this.#counts.get(key) ?? 0) + 1
    this.#counts.set(key, count)
    return count
  }
}
