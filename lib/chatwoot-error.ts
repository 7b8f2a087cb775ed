// The one class of a failed Chatwoot call: the code says which failure. Kept apart from lib/errors.ts
// (which re-exports it and lists its codes in errorCodes) so that module stays one screen of definitions.

/** Codes of a failed Chatwoot call (`ChatwootError`): one class, the code says which failure. */
export const CHATWOOT_ERROR_CODES = [
  'FST_CHATWOOT_NOT_FOUND',
  'FST_CHATWOOT_UNAUTHORIZED',
  'FST_CHATWOOT_VALIDATION',
  'FST_CHATWOOT_RATE_LIMITED',
  'FST_CHATWOOT_TOO_MANY_MESSAGES',
  'FST_CHATWOOT_SERVER',
  'FST_CHATWOOT_BAD_REQUEST',
  'FST_CHATWOOT_TIMEOUT',
  'FST_CHATWOOT_NETWORK',
  'FST_CHATWOOT_INPUT_INVALID'
] as const

export type ChatwootErrorCode = typeof CHATWOOT_ERROR_CODES[number]

export interface ChatwootErrorDetails {
  code: ChatwootErrorCode
  message: string
  /** Chatwoot's status; 503 for a network failure and 504 for a timeout, so a route that throws it answers sensibly. */
  statusCode: number
  method: string
  /** The request path, without the query; the token travels in a header and is never here. */
  path: string
  operation: string
  body?: unknown
  retryable: boolean
  /** False when the request certainly never reached Chatwoot's action (429, refused connection). */
  mayHaveLanded: boolean
  retryAfterMs?: number
  cause?: unknown
}

/** Every failed Chatwoot call, whichever HTTP library was underneath. */
export class ChatwootError extends Error {
  readonly code: ChatwootErrorCode
  readonly statusCode: number
  readonly method: string
  readonly path: string
  readonly operation: string
  /** Chatwoot's answer, parsed when it was JSON (text otherwise). */
  readonly body: unknown
  /** Transient in kind (429, 5xx, network, timeout): whether the policy may retry it. */
  readonly retryable: boolean
  readonly mayHaveLanded: boolean
  /** What a Retry-After asked for, in milliseconds (Chatwoot's own 429 has none; a proxy in front may). */
  readonly retryAfterMs: number | undefined

  constructor (details: ChatwootErrorDetails) {
    super(details.message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'ChatwootError'
    this.code = details.code
    this.statusCode = details.statusCode
    this.method = details.method
    this.path = details.path
    this.operation = details.operation
    this.body = details.body
    this.retryable = details.retryable
    this.mayHaveLanded = details.mayHaveLanded
    this.retryAfterMs = details.retryAfterMs
  }
}

export function isChatwootError (value: unknown): value is ChatwootError {
  return value instanceof ChatwootError
}
