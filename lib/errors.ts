import createError from '@fastify/error'
import { CHATWOOT_ERROR_CODES, ChatwootError, type ChatwootErrorCode } from './chatwoot-error.js'

// The collection's one error vocabulary. Every public failure has a stable code, so host apps branch
// on `err.code` and never on message text; `errorCodes` at the end lists every code, as Fastify's own
// `errorCodes` does. Messages name what was received but never a token or a password.

export { CHATWOOT_ERROR_CODES, ChatwootError, type ChatwootErrorCode, type ChatwootErrorDetails, isChatwootError } from './chatwoot-error.js'

export const InstanceNameInvalidError = createError(
  'FST_CHATWOOT_INSTANCE_NAME_INVALID',
  'Invalid instance name: %s (expected 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit)',
  400
)

export const InstanceNotFoundError = createError(
  'FST_CHATWOOT_INSTANCE_NOT_FOUND',
  'Instance "%s" was not found',
  404
)

/** A resolved config that cannot be used; `field` names the setting (e.g. `chatwoot.url`), never its value. */
export class InstanceConfigInvalidError extends createError<'FST_CHATWOOT_INSTANCE_CONFIG_INVALID', 500, [string, string, string]>(
  'FST_CHATWOOT_INSTANCE_CONFIG_INVALID',
  'Invalid configuration for instance "%s": %s %s',
  500
) {
  readonly instance: string
  readonly field: string

  constructor (instance: string, field: string, problem: string) {
    super(instance, field, problem)
    this.instance = instance
    this.field = field
  }
}

export const OptionsInvalidError = createError(
  'FST_CHATWOOT_OPTIONS_INVALID',
  '%s: %s',
  500
)

export const PgNotConfiguredError = createError(
  'FST_CHATWOOT_PG_NOT_CONFIGURED',
  'Instance "%s" has no database and no @fastify/postgres pool is registered to fall back to',
  500
)

export interface PgConnectDetails {
  /** The server's SQLSTATE (e.g. 3D000 for a missing database), when it answered one. */
  sqlState?: string
  /** The driver's error, only when it cannot repeat a secret of the setting. */
  cause?: Error
}

/** An instance's database cannot be reached; `target` is masked and `reason` scrubbed of the setting's secrets. */
export class PgConnectError extends createError<'FST_CHATWOOT_PG_CONNECT', 503, [string, string, string]>(
  'FST_CHATWOOT_PG_CONNECT',
  'Cannot connect to Postgres for instance "%s" (%s): %s',
  503
) {
  readonly instance: string
  readonly target: string
  readonly reason: string
  readonly sqlState: string | undefined

  constructor (instance: string, target: string, reason: string, { sqlState, cause }: PgConnectDetails = {}) {
    super(instance, target, reason)
    this.instance = instance
    this.target = target
    this.reason = reason
    this.sqlState = sqlState
    this.cause = cause
  }
}

export const PgClosedError = createError(
  'FST_CHATWOOT_PG_CLOSED',
  'instancePostgres is closed; refused to open a pool for instance "%s"',
  503
)

export const ClientClosedError = createError(
  'FST_CHATWOOT_CLIENT_CLOSED',
  'Cannot give a Chatwoot client for instance "%s": the app is closing or closed',
  503
)

export const DeliveryInvalidError = createError(
  'FST_CHATWOOT_DELIVERY_INVALID',
  'Invalid delivery: %s',
  400
)

export const DeliveryInFlightError = createError(
  'FST_CHATWOOT_DELIVERY_IN_FLIGHT',
  'Message %s is being delivered by another worker; it was not posted again',
  409
)

export const MisrouteUnresolvedError = createError(
  'FST_CHATWOOT_MISROUTE_UNRESOLVED',
  'Instance "%s": a message landed in another contact\'s conversation %s, and Chatwoot still answers that conversation for this contact: not posted again',
  502
)

// The outbox (lib/outbox): enqueue refuses what it could never deliver, at once and with a code.

export const OutboxConflictError = createError(
  'FST_CHATWOOT_OUTBOX_CONFLICT',
  'Message %s of instance "%s" was already enqueued with a different payload',
  409
)

export const OutboxPayloadTooLargeError = createError(
  'FST_CHATWOOT_OUTBOX_PAYLOAD_TOO_LARGE',
  'The message takes %d bytes stored, over the outbox bound of %d (option "maxPayloadBytes"); store its attachments elsewhere and enqueue a ref',
  413
)

export const OutboxClosedError = createError(
  'FST_CHATWOOT_OUTBOX_CLOSED',
  'The outbox is closing or closed; %s was refused',
  503
)

export const OutboxLeaseLostError = createError(
  'FST_CHATWOOT_OUTBOX_LEASE_LOST',
  'Outbox entry %s: this worker no longer holds its lane (the lease expired and another worker took it over); not posted',
  409
)

export const OutboxStorageError = createError(
  'FST_CHATWOOT_OUTBOX_STORAGE',
  'The outbox has no storage: give option "pool" (a pg.Pool) or "connectionString", or register @fastify/postgres before it',
  500
)

// Outcomes the outbox records on an entry (never thrown): listed so every code has one home.

export const OutboxExpiredError = createError(
  'FST_CHATWOOT_OUTBOX_EXPIRED',
  'Outbox entry %s expired before this attempt',
  410
)

export const OutboxTakenOverError = createError(
  'FST_CHATWOOT_OUTBOX_TAKEN_OVER',
  'Outbox entry %s: an attempt ended without a record (its worker stopped or lost the lane)',
  409
)

export const WebhookSignatureError = createError(
  'FST_CHATWOOT_WEBHOOK_SIGNATURE',
  'Chatwoot webhook for instance "%s" refused: %s',
  401
)

export const WebhookBodyError = createError(
  'FST_CHATWOOT_WEBHOOK_BODY',
  'Chatwoot webhook for instance "%s" refused: %s',
  400
)

export const WebhookReplyFailedError = createError(
  'FST_CHATWOOT_WEBHOOK_REPLY_FAILED',
  'Agent reply %s of instance "%s" not sent: %s',
  502
)

/** A kind's handler gave up on its entry (its own retries spent, or a failure it knows to be final): dead at once. */
export const OutboxGaveUpError = createError(
  'FST_CHATWOOT_OUTBOX_GAVE_UP',
  'Outbox entry given up: %s',
  502
)

// Outcomes of the delete-window check: recorded on entries, and the wait of a post behind entries queued again.

export const OutboxConversationDeletedError = createError(
  'FST_CHATWOOT_OUTBOX_CONVERSATION_DELETED',
  'Outbox entry %s was acknowledged into a conversation Chatwoot deleted afterwards: queued again',
  410
)

export const OutboxRequeuedError = createError(
  'FST_CHATWOOT_OUTBOX_REQUEUED',
  'Outbox entry %s waits: entries ahead of it in its lane were queued again (their conversation was deleted)',
  409
)

// Add new definitions above and list them here: test/errors.test.ts fails on a code used in lib/ and missing here.

const chatwootCodes = Object.fromEntries(CHATWOOT_ERROR_CODES.map((code) => [code, ChatwootError])) as Record<ChatwootErrorCode, typeof ChatwootError>

/** Every code of the collection and what carries it, as Fastify's `errorCodes`: a failed call's codes all map to `ChatwootError`. */
export const errorCodes = Object.freeze({
  ...chatwootCodes,
  FST_CHATWOOT_INSTANCE_NAME_INVALID: InstanceNameInvalidError,
  FST_CHATWOOT_INSTANCE_NOT_FOUND: InstanceNotFoundError,
  FST_CHATWOOT_INSTANCE_CONFIG_INVALID: InstanceConfigInvalidError,
  FST_CHATWOOT_OPTIONS_INVALID: OptionsInvalidError,
  FST_CHATWOOT_PG_NOT_CONFIGURED: PgNotConfiguredError,
  FST_CHATWOOT_PG_CONNECT: PgConnectError,
  FST_CHATWOOT_PG_CLOSED: PgClosedError,
  FST_CHATWOOT_CLIENT_CLOSED: ClientClosedError,
  FST_CHATWOOT_DELIVERY_INVALID: DeliveryInvalidError,
  FST_CHATWOOT_DELIVERY_IN_FLIGHT: DeliveryInFlightError,
  FST_CHATWOOT_MISROUTE_UNRESOLVED: MisrouteUnresolvedError,
  FST_CHATWOOT_OUTBOX_CONFLICT: OutboxConflictError,
  FST_CHATWOOT_OUTBOX_PAYLOAD_TOO_LARGE: OutboxPayloadTooLargeError,
  FST_CHATWOOT_OUTBOX_CLOSED: OutboxClosedError,
  FST_CHATWOOT_OUTBOX_LEASE_LOST: OutboxLeaseLostError,
  FST_CHATWOOT_OUTBOX_STORAGE: OutboxStorageError,
  FST_CHATWOOT_OUTBOX_EXPIRED: OutboxExpiredError,
  FST_CHATWOOT_OUTBOX_TAKEN_OVER: OutboxTakenOverError,
  FST_CHATWOOT_OUTBOX_CONVERSATION_DELETED: OutboxConversationDeletedError,
  FST_CHATWOOT_OUTBOX_REQUEUED: OutboxRequeuedError,
  FST_CHATWOOT_WEBHOOK_SIGNATURE: WebhookSignatureError,
  FST_CHATWOOT_WEBHOOK_BODY: WebhookBodyError,
  FST_CHATWOOT_WEBHOOK_REPLY_FAILED: WebhookReplyFailedError,
  FST_CHATWOOT_OUTBOX_GAVE_UP: OutboxGaveUpError
})

export type ErrorCode = keyof typeof errorCodes
