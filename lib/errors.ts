import createError from '@fastify/error'

// Every public failure of the collection has a stable code, so host apps branch on `err.code`
// and never on message text. Messages name what was received but never a token or a password.

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

export const InstanceConfigInvalidError = createError(
  'FST_CHATWOOT_INSTANCE_CONFIG_INVALID',
  'Invalid configuration for instance "%s": %s %s',
  500
)

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

export const PgConnectError = createError(
  'FST_CHATWOOT_PG_CONNECT',
  'Cannot connect to Postgres for instance "%s" (%s): %s',
  503
)

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
