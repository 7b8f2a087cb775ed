import type { ChatwootError } from './errors.js'
import type { RetryPolicy } from '../options.js'

// Policy only: whether and when to try again. The client's loop carries it out. The settings and their
// check live in lib/options.ts, shared with the instances' per-instance overrides.
export { DEFAULT_RETRY, retryPolicy } from '../options.js'
export type { RetryOptions, RetryPolicy } from '../options.js'

/**
 * How a call may be repeated after a failure that may have reached Chatwoot:
 * `read` freely; `idempotent` freely (same effect twice); `guarded` only after checking that the
 * first one did not land; `unsafe` never (only failures that certainly did not land are retried).
 */
export type Safety = 'read' | 'idempotent' | 'guarded' | 'unsafe'

/** Whether the failure of attempt `retry + 1` earns another attempt. */
export function shouldRetry (error: ChatwootError, safety: Safety, retry: number, policy: RetryPolicy): boolean {
  if (!error.retryable || retry >= policy.maxRetries) return false
  return safety !== 'unsafe' || !error.mayHaveLanded
}

/** Milliseconds to wait before retry number `retry + 1`; a Retry-After (ms) wins, within maxDelayMs. */
export function backoff (retry: number, policy: RetryPolicy, retryAfterMs?: number, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelayMs)
  const wait = Math.min(policy.minDelayMs * policy.timeoutFactor ** retry, policy.maxDelayMs)
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
