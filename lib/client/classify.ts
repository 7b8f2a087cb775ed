import { ChatwootError, type ChatwootErrorCode } from './errors.js'

export interface CallDescription { operation: string, method: string, path: string }

// Failures before any byte reached the server: retrying them can never post twice.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_DESTROYED', 'UND_ERR_CLOSED'])
// A closed client stays closed: trying again cannot help.
const FINAL = new Set(['UND_ERR_DESTROYED', 'UND_ERR_CLOSED'])
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'])

// Chatwoot's per-conversation message limit (CONTRACT.md "Rate limits") answers 422 with exactly this text.
// Matched whole: a message that also failed another validation (joined by ", ") cannot pass by waiting.
const TOO_MANY_MESSAGES = 'Validation failed: Too many messages'

function byStatus (status: number, said: string): { code: ChatwootErrorCode, retryable: boolean } {
  // Not retryable by the HTTP policy (a quick retry falls in the same minute window), and not stored (4xx):
  // a caller that waits for the window to move on (an outbox) can post it again without a duplicate.
  if (status === 422 && said.trim() === TOO_MANY_MESSAGES) return { code: 'FST_CHATWOOT_TOO_MANY_MESSAGES', retryable: false }
  if (status === 404) return { code: 'FST_CHATWOOT_NOT_FOUND', retryable: false }
  if (status === 401 || status === 403) return { code: 'FST_CHATWOOT_UNAUTHORIZED', retryable: false }
  if (status === 422) return { code: 'FST_CHATWOOT_VALIDATION', retryable: false }
  if (status === 429) return { code: 'FST_CHATWOOT_RATE_LIMITED', retryable: true }
  if (status >= 500) return { code: 'FST_CHATWOOT_SERVER', retryable: true }
  return { code: 'FST_CHATWOOT_BAD_REQUEST', retryable: false }
}

/** Chatwoot's own words for the failure: `error`, `message` or the first of `errors`, never more than a line. */
function reason (body: unknown): string {
  if (typeof body === 'string') return body.trim().slice(0, 200)
  if (typeof body === 'object' && body !== null) {
    const { error, message, errors } = body as Record<string, unknown>
    const text = error ?? message ?? (Array.isArray(errors) ? errors[0] : undefined)
    if (typeof text === 'string') return text.slice(0, 200)
  }
  return ''
}

/** The code a non-2xx answer is given, without building the error (diagnostics publish it). */
export function codeFor (status: number, body: unknown): ChatwootErrorCode {
  return byStatus(status, reason(body)).code
}

/** A non-2xx answer: classified by its status (and the one 422 that says to wait, by its text). */
export function fromStatus (call: CallDescription, status: number, body: unknown, retryAfterMs?: number): ChatwootError {
  const said = reason(body)
  const { code, retryable } = byStatus(status, said)
  return new ChatwootError({
    ...call,
    code,
    statusCode: status,
    body,
    retryable,
    // 4xx are answered before anything is stored (rack-attack, auth, lookups, validations);
    // a 5xx may come after a commit, or from a proxy that lost the answer.
    mayHaveLanded: status >= 500,
    retryAfterMs,
    message: `Chatwoot ${call.operation} (${call.method} ${call.path}) answered ${status}${said === '' ? '' : `: ${said}`}`
  })
}

/** A transport failure: classified by undici's and Node's error codes, or by the client's own deadline. */
export function fromTransport (call: CallDescription, error: unknown, timedOut = false): ChatwootError {
  const errorCode = String((error as { code?: unknown })?.code ?? '')
  const timeout = timedOut || TIMEOUTS.has(errorCode)
  return new ChatwootError({
    ...call,
    code: timeout ? 'FST_CHATWOOT_TIMEOUT' : 'FST_CHATWOOT_NETWORK',
    statusCode: timeout ? 504 : 503,
    retryable: !FINAL.has(errorCode),
    mayHaveLanded: !NOT_SENT.has(errorCode),
    cause: error,
    message: `Chatwoot ${call.operation} (${call.method} ${call.path}) failed: ${timeout ? 'timed out' : 'network error'}` +
      (errorCode === '' || timedOut ? '' : ` (${errorCode})`)
  })
}

export function inputInvalid (call: CallDescription, problem: string): ChatwootError {
  return new ChatwootError({
    ...call,
    code: 'FST_CHATWOOT_INPUT_INVALID',
    statusCode: 400,
    retryable: false,
    mayHaveLanded: false,
    message: `Invalid input for Chatwoot ${call.operation}: ${problem}`
  })
}

/** The same failure, final: the hopeless `hint` says why no retry, by this client or its caller, can cure it. */
export function hopeless (error: ChatwootError, hint: string): ChatwootError {
  const { code, statusCode, method, path, operation, body, mayHaveLanded, retryAfterMs } = error
  return new ChatwootError({
    code, statusCode, method, path, operation, body, mayHaveLanded, retryAfterMs, retryable: false, message: `${error.message} (${hint})`
  })
}
