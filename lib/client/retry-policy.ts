import { OptionsInvalidError } from '../errors.js'
import type { ChatwootError } from './errors.js'

// Policy only: whether and when to try again. The client carries it out.

export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number
  /** Milliseconds before the first retry. Default 250. */
  minTimeout?: number
  /** The longest wait between attempts, also for a Retry-After. Default 5000. */
  maxTimeout?: number
  /** Growth of the wait per retry. Default 2. */
  timeoutFactor?: number
  /** Randomise each wait between half and all of it, so many clients do not retry in step. Default true. */
  jitter?: boolean
}

export type RetryPolicy = Readonly<Required<RetryOptions>>

/**
 * How a call may be repeated after a failure that may have reached Chatwoot:
 * `read` freely; `idempotent` freely (same effect twice); `guarded` only after checking that the
 * first one did not land; `unsafe` never (only failures that certainly did not land are retried).
 */
export type Safety = 'read' | 'idempotent' | 'guarded' | 'unsafe'

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxRetries: 3, minTimeout: 250, maxTimeout: 5000, timeoutFactor: 2, jitter: true
})

export function retryPolicy (options: RetryOptions = {}, where = 'chatwootClient'): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...options }
  const check = (name: keyof RetryOptions, ok: boolean, expected: string) => {
    if (!ok) throw new OptionsInvalidError(where, `option "retry.${name}" must be ${expected}, got ${String(policy[name])}`)
  }
  check('maxRetries', Number.isInteger(policy.maxRetries) && policy.maxRetries >= 0, 'an integer >= 0')
  check('minTimeout', Number.isFinite(policy.minTimeout) && policy.minTimeout >= 0, 'a number >= 0')
  check('maxTimeout', Number.isFinite(policy.maxTimeout) && policy.maxTimeout >= policy.minTimeout, 'a number >= minTimeout')
  check('timeoutFactor', Number.isFinite(policy.timeoutFactor) && policy.timeoutFactor >= 1, 'a number >= 1')
  check('jitter', typeof policy.jitter === 'boolean', 'a boolean')
  return Object.freeze(policy)
}

/** Whether the failure of attempt `retry + 1` earns another attempt. */
export function shouldRetry (error: ChatwootError, safety: Safety, retry: number, policy: RetryPolicy): boolean {
  if (!error.retryable || retry >= policy.maxRetries) return false
  return safety !== 'unsafe' || !error.mayHaveLanded
}

/** Milliseconds to wait before retry number `retry + 1`; a Retry-After (ms) wins, within maxTimeout. */
export function backoff (retry: number, policy: RetryPolicy, retryAfterMs?: number, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxTimeout)
  const wait = Math.min(policy.minTimeout * policy.timeoutFactor ** retry, policy.maxTimeout)
  return policy.jitter ? wait / 2 + (random() * wait) / 2 : wait
}

/** Retry-After in seconds or as an HTTP date; Chatwoot's own 429 has none, a proxy in front may. */
export function parseRetryAfter (header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || value.trim() === '') return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
