import { InstanceNameInvalidError, OptionsInvalidError } from './errors.js'

// The checks every plugin shares (durations, URLs, tokens, hooks, positive integers, retry settings),
// written once so that a value is refused with the same words wherever it is given. A shared leaf:
// it imports nothing of the folders, so instances/ and client/ can both use it without a cycle.

/** Builds the error for one setting; `field` names it (never its value, which can be a secret). */
export type Invalid = (field: string, problem: string) => Error

/** An `OptionsInvalidError` for `where` (a plugin or class name) saying `option "field" problem`. */
export function optionsInvalid (where: string): Invalid {
  return (field, problem) => new OptionsInvalidError(where, `option "${field}" ${problem}`)
}

/** What a value is, without its content: safe for a message even when the value is a secret. */
export function kindOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string'
  return `a value of type ${typeof value}`
}

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function isDurationMs (value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
}

/** Milliseconds > 0. Numbers are shown (they are never secret); anything else only by its kind. */
export function durationMs (value: unknown, field: string, invalid: Invalid): number {
  if (!isDurationMs(value)) {
    throw invalid(field, `must be a number of milliseconds > 0, got ${typeof value === 'number' ? String(value) : kindOf(value)}`)
  }
  return value
}

/**
 * A safe integer >= 1. With `digits`, a string of digits too (databases often answer ids as text).
 * A short value is shown as JSON; a long string only by its length.
 */
export function positiveInteger (value: unknown, field: string, invalid: Invalid, { digits = false } = {}): number {
  const number = digits && typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) {
    const shown = typeof value === 'number' || (typeof value === 'string' && value.length <= 20) ? JSON.stringify(value) : kindOf(value)
    throw invalid(field, `must be a positive integer, got ${shown}`)
  }
  return number
}

/** An absolute http(s) URL without credentials. The text is never echoed: a URL can carry a password. */
export function httpUrl (value: unknown, field: string, invalid: Invalid): URL {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, `must be a non-empty string, got ${kindOf(value)}`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalid(field, `must be an absolute http(s) URL, got a string of ${value.length} characters that is not one`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(field, `must use http or https, got ${url.protocol}`)
  if (url.username !== '' || url.password !== '') throw invalid(field, 'must not carry credentials; give the token on its own')
  return url
}

/** A token sent in a header: non-empty and on one line (a line break would split the header). */
export function apiToken (value: unknown, field: string, invalid: Invalid): string {
  if (typeof value !== 'string') throw invalid(field, `must be a string, got ${kindOf(value)}`)
  if (value.trim() === '') throw invalid(field, 'must not be empty')
  if (/[\r\n]/.test(value)) throw invalid(field, 'must not contain line breaks')
  return value
}

/** A function the plugin will call (a hook, a lookup); `undefined` when optional and not given. */
export function optionalFunction<F extends (...args: any[]) => unknown> (value: F | undefined, field: string, invalid: Invalid): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalid(field, `must be a function, got ${kindOf(value)}`)
  return value
}

// Names end up in Redis keys, log lines and pool labels: a strict alphabet keeps glob
// characters (`*`, `{`), separators (`:`) and unbounded input out of all of them. Here, not in
// instances/, because postgres/ checks names too and instances/ reads postgres/'s redaction.
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export function isInstanceName (name: unknown): name is string {
  return typeof name === 'string' && INSTANCE_NAME.test(name)
}

export function assertInstanceName (name: unknown): asserts name is string {
  if (!isInstanceName(name)) throw new InstanceNameInvalidError(describeName(name))
}

// Shows what was received without echoing a 10 kB string or a secret pasted by mistake.
function describeName (value: unknown): string {
  if (typeof value !== 'string') return `a value of type ${value === null ? 'null' : typeof value}`
  if (value.length === 0) return 'an empty string'
  if (value.length > 64) return `a string of ${value.length} characters`
  return JSON.stringify(value)
}

export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number
  /** Milliseconds before the first retry. Default 250. */
  minDelayMs?: number
  /** The longest wait between attempts in milliseconds, also for a Retry-After. Default 5000. */
  maxDelayMs?: number
  /** Growth of the wait per retry. Default 2. */
  timeoutFactor?: number
  /** Randomise each wait between half and all of it, so many clients do not retry in step. Default true. */
  jitter?: boolean
  /** @deprecated use minDelayMs (read as it until 1.0). */
  minTimeout?: number
  /** @deprecated use maxDelayMs (read as it until 1.0). */
  maxTimeout?: number
}

export type RetryPolicy = Readonly<Required<Omit<RetryOptions, 'minTimeout' | 'maxTimeout'>>>

/** The retry settings renamed under the rule for durations; warned of where options are given (plugins, constructors). */
export const RENAMED_RETRY_OPTIONS = { minTimeout: 'minDelayMs', maxTimeout: 'maxDelayMs' } as const

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxRetries: 3, minDelayMs: 250, maxDelayMs: 5000, timeoutFactor: 2, jitter: true
})

/** The retry settings with their defaults, checked: the client's, its plugin's and an instance's overrides alike. */
export function retryPolicy (options: RetryOptions = {}, where = 'chatwootClient'): RetryPolicy {
  // The old names are read here too, without a warning: the places options come in warn once.
  const { minTimeout, maxTimeout, ...given } = options
  const policy = { ...DEFAULT_RETRY, ...given }
  policy.minDelayMs = given.minDelayMs ?? minTimeout ?? DEFAULT_RETRY.minDelayMs
  policy.maxDelayMs = given.maxDelayMs ?? maxTimeout ?? DEFAULT_RETRY.maxDelayMs
  const check = (name: keyof RetryPolicy, ok: boolean, expected: string) => {
    if (!ok) throw new OptionsInvalidError(where, `option "retry.${name}" must be ${expected}, got ${String(policy[name])}`)
  }
  check('maxRetries', Number.isInteger(policy.maxRetries) && policy.maxRetries >= 0, 'an integer >= 0')
  check('minDelayMs', Number.isFinite(policy.minDelayMs) && policy.minDelayMs >= 0, 'a number >= 0')
  check('maxDelayMs', Number.isFinite(policy.maxDelayMs) && policy.maxDelayMs >= policy.minDelayMs, 'a number >= minDelayMs')
  check('timeoutFactor', Number.isFinite(policy.timeoutFactor) && policy.timeoutFactor >= 1, 'a number >= 1')
  check('jitter', typeof policy.jitter === 'boolean', 'a boolean')
  return Object.freeze(policy)
}

/**
 * Options renamed under the one rule for durations (`...Ms`): the old name still works until 1.0, with one
 * deprecation warning each time a plugin is registered with it; the new name wins when both are given.
 */
export function withRenamedOptions<T extends object> (given: T | undefined, renamed: Record<string, string>, where: string): T {
  const options: Record<string, unknown> = { ...given }
  for (const [old, current] of Object.entries(renamed)) {
    if (options[old] === undefined) continue
    process.emitWarning(`${where}: option "${old}" is deprecated, use "${current}" (milliseconds, like every duration)`, 'DeprecationWarning')
    options[current] ??= options[old]
    // Passed on under the new name only, so whatever receives them next does not warn again.
    delete options[old]
  }
  return options as T
}
