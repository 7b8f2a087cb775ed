import { STATUS_CODES } from 'node:http'

// Chatwoot's error answers, byte for byte as v4.9.1 sends them (CONTRACT.md, "Error responses").
// Handlers throw one of these; the app's error handler sends it as it is.
export class ChatwootAnswer extends Error {
  readonly statusCode: number
  readonly body: unknown
  readonly contentType: string

  constructor (statusCode: number, body: unknown, contentType = 'application/json; charset=utf-8') {
    super(`Chatwoot answer ${statusCode}`)
    this.statusCode = statusCode
    this.body = body
    this.contentType = contentType
  }
}

export const signInRequired = () =>
  new ChatwootAnswer(401, { errors: ['You need to sign in or sign up before continuing.'] })

export const invalidAccessToken = () => new ChatwootAnswer(401, { error: 'Invalid Access Token' })

export const botNotAllowed = () =>
  new ChatwootAnswer(401, { error: 'Access to this endpoint is not authorized for bots' })

export const notInAccount = () =>
  new ChatwootAnswer(401, { error: 'You are not authorized to access this account' })

export const botNotInAccount = () => new ChatwootAnswer(401, { error: 'Bot is not authorized to access this account' })

export const accountSuspendedAnswer = () => new ChatwootAnswer(401, { error: 'Account is suspended' })

export const actionNotAllowed = () =>
  new ChatwootAnswer(401, { error: 'You are not authorized to do this action' })

export const notFound = () => new ChatwootAnswer(404, { error: 'Resource could not be found' })

export const paramMissing = (name: string) =>
  new ChatwootAnswer(422, { error: `param is missing or the value is empty: ${name}` })

/** A model validation failure: Rails' full messages joined, and the attributes that failed. */
export function recordInvalid (failures: ReadonlyArray<{ attribute: string, message: string }>): ChatwootAnswer {
  return new ChatwootAnswer(422, {
    message: failures.map((failure) => failure.message).join(', '),
    attributes: [...new Set(failures.map((failure) => failure.attribute))]
  })
}

/** What a create action answers when anything inside it raises (messages, source_id clashes). */
export const couldNotCreate = (message: string) => new ChatwootAnswer(422, { error: message })

/** Rails' public exception page in JSON: unhandled errors, bad enum values, unique-index races. */
export function railsError (statusCode: number): ChatwootAnswer {
  return new ChatwootAnswer(statusCode, { status: statusCode, error: STATUS_CODES[statusCode] ?? 'Error' })
}

export const internalServerError = () => railsError(500)

// rack-attack's throttled response: plain text and, unlike most rate limiters, no Retry-After.
export const retryLater = () => new ChatwootAnswer(429, 'Retry later\n', 'text/plain')
