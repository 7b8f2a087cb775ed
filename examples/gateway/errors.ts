import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'
import type { FastifyError, FastifyInstance } from 'fastify'
import { isChatwootError } from 'fastify-chatwoot'

/** A field the JSON schema could not check (a multipart field, a setting the library refuses); `err.field` names it. */
export const FieldInvalidError = createError<[string, string]>('GATEWAY_FIELD_INVALID', '%s %s', 400)

/** A multipart field longer than the gateway takes. */
export const FieldTooLargeError = createError<[string, number]>('GATEWAY_FIELD_TOO_LARGE', '%s is longer than %d bytes', 413)

/** DELETE /outbox/dead/:id of an entry that is not dead (queued, delivered) or does not exist. */
export const DeadEntryNotFoundError = createError<[string]>('GATEWAY_DEAD_ENTRY_NOT_FOUND', 'no dead entry %s', 404)

/** The stand-in WhatsApp sender is switched off (POST /replies/outage): the reply is retried, then marked failed in Chatwoot. */
export const ReplySenderDownError = createError<[string]>('GATEWAY_REPLY_SENDER_DOWN', 'the WhatsApp stand-in refused the reply (%s)', 503)

// Chatwoot's own answer, seen from the gateway's caller: a failure on the far side is a bad
// gateway (502), or unavailable (503) when waiting and trying again may help.
const UNAVAILABLE = new Set(['FST_CHATWOOT_NETWORK', 'FST_CHATWOOT_TIMEOUT', 'FST_CHATWOOT_SERVER', 'FST_CHATWOOT_RATE_LIMITED'])

interface Answer { statusCode: number, code: string, error: string, message: string, field?: string }

function answerFor (error: FastifyError): Answer {
  if (error.validation !== undefined) {
    const [first] = error.validation
    const params = first?.params as { missingProperty?: string, additionalProperty?: string } | undefined
    const missing = params?.missingProperty ?? params?.additionalProperty
    const path = `${first?.instancePath ?? ''}${missing === undefined ? '' : `/${missing}`}`
    const field = `${error.validationContext ?? 'body'}${path.replaceAll('/', '.')}`
    return { statusCode: 400, code: 'GATEWAY_VALIDATION', error: 'Bad Request', message: `${field} ${first?.message ?? 'is invalid'}`, field }
  }
  if (isChatwootError(error)) {
    const unavailable = UNAVAILABLE.has(error.code)
    // Chatwoot's message names the operation and status, never the token (it travels in a header).
    return {
      statusCode: unavailable ? 503 : 502,
      code: error.code,
      error: unavailable ? 'Service Unavailable' : 'Bad Gateway',
      message: error.message
    }
  }
  const statusCode = error.statusCode ?? 500
  if (statusCode >= 500) {
    // Coded failures of the plugins (Postgres unreachable, closing) say what is wrong; anything
    // else may carry internals, so its text stays in the log.
    const coded = typeof error.code === 'string' && error.code.startsWith('FST_CHATWOOT_')
    return {
      statusCode,
      code: coded ? error.code : 'GATEWAY_INTERNAL',
      error: STATUS_CODES[statusCode] ?? 'Internal Server Error',
      message: coded ? error.message : 'Internal error; see the gateway log'
    }
  }
  const field = (error as { field?: unknown }).field
  return {
    statusCode,
    code: error.code ?? 'GATEWAY_BAD_REQUEST',
    error: STATUS_CODES[statusCode] ?? 'Bad Request',
    message: error.message,
    ...(typeof field === 'string' ? { field } : {})
  }
}

/** Every failure answers `{ statusCode, code, error, message, field? }`: no stack, no secret. */
export function useErrorAnswers (app: FastifyInstance): void {
  app.setErrorHandler(function answerError (error: FastifyError, request, reply) {
    const answer = answerFor(error)
    if (answer.statusCode >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: answer.code }, answer.message)
    return reply.code(answer.statusCode).send(answer)
  })
}
