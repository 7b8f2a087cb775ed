import type pg from 'pg'
import type { DeliveryContact } from '../conversations/get-or-create.js'
import { durationMs, isRecord, kindOf, optionalFunction, optionsInvalid, positiveInteger } from '../options.js'
import { SCHEMA_NAME } from './db.js'
import type { OpenAttachment } from './payload.js'

export interface ChatwootOutboxOptions {
  /** The host's pool. Default: `connectionString`, else @fastify/postgres' `fastify.pg.pool`. */
  pool?: pg.Pool
  /** A pool of the outbox's own is made on it (and ended on close). */
  connectionString?: string
  /** Postgres schema of the outbox's tables. Default 'chatwoot_outbox'. */
  schema?: string
  /** Run workers in this process. Default true; `false` for an app that only enqueues. */
  worker?: boolean
  /** Entries one process delivers at once; its workers hold up to twice as many lanes (docs/outbox.md). Default 4. */
  concurrency?: number
  /** A lease's length; renewed while working, and at least a client timeout of it is left when a post starts. Default 30 000. */
  leaseMs?: number
  /** How often an idle worker looks for ready lanes enqueued by other processes. Default 250. */
  pollMs?: number
  /** An entry not delivered within this is dead, whatever the cause. Default 24 h. */
  maxAgeMs?: number
  backoffMinMs?: number
  backoffMaxMs?: number
  /** After a timeout, how long to wait before checking whether the post landed and posting it. Default 30 000. */
  slowChatwootMs?: number
  /** A paused instance (wrong token or account) is probed this often until its settings change. Default 5 min. */
  probeMs?: number
  /** Requests a minute to one Chatwoot origin from all replicas together. Default 2400 (Chatwoot allows 3000 per client IP). */
  requestsPerMinute?: number
  /** The largest stored message, attachments included (base64). Default 8 MiB; over it enqueue answers 413. */
  maxPayloadBytes?: number
  /**
   * The longest client timeout (chatwootClient's or an instance's `timeoutMs`) expected: only checks, at
   * registration, that leaseMs is at least twice it. Each attempt reads its client's real timeout. Default 5000.
   */
  clientTimeoutMs?: number
  /** How often the chores run (maxAge of paused instances' entries, pauses whose settings changed). Default 5000. */
  maintenanceMs?: number
  /** Chatwoot's delete job runs within this after a conversation's DELETE: a check vouches only for entries delivered at least this long before it. Default 60 000. */
  deleteWindowMs?: number
  /** One check per conversation: once its newest unchecked delivery is past the delete window, or its oldest this much past it (a conversation that never quiets). Default 10 000. */
  settleMs?: number
  /** Delivered rows are kept this long (idempotent enqueue answers from them), stripped of content once vouched for. Default 7 days. */
  retentionMs?: number
  /** Dead letters are kept this long for replay, then deleted. Default 30 days. */
  deadRetentionMs?: number
  /** Rows one chore run strips, prunes or checks at most. Default 1000. */
  choreBatch?: number
  /** The lane and idempotency key of a contact: keep it the same as chatwootConversations'. Default the identifier. */
  contactKey?: (contact: DeliveryContact) => string
  /** Opens an attachment enqueued as `{ ref }`. */
  openAttachment?: OpenAttachment
}

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

export type OutboxSettings = Required<Omit<ChatwootOutboxOptions, 'pool' | 'connectionString' | 'openAttachment'>> &
Pick<ChatwootOutboxOptions, 'pool' | 'connectionString' | 'openAttachment'>

const invalid = optionsInvalid('chatwootOutbox')

export function outboxSettings (options: ChatwootOutboxOptions = {}): OutboxSettings {
  const {
    pool, connectionString, openAttachment,
    schema = 'chatwoot_outbox',
    worker = true,
    concurrency = 4,
    leaseMs = 30_000,
    pollMs = 250,
    maxAgeMs = 24 * HOUR,
    backoffMinMs = 1000,
    backoffMaxMs = 5 * MINUTE,
    slowChatwootMs = 30_000,
    probeMs = 5 * MINUTE,
    requestsPerMinute = 2400,
    maxPayloadBytes = 8 * 1024 * 1024,
    clientTimeoutMs = 5000,
    maintenanceMs = 5000,
    deleteWindowMs = MINUTE,
    settleMs = 10_000,
    retentionMs = 7 * DAY,
    deadRetentionMs = 30 * DAY,
    choreBatch = 1000,
    contactKey = (contact: DeliveryContact) => contact.identifier
  } = options ?? {}
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw invalid('schema', `must be a lowercase SQL identifier, got ${typeof schema === 'string' && schema.length <= 64 ? JSON.stringify(schema) : kindOf(schema)}`)
  }
  if (typeof worker !== 'boolean') throw invalid('worker', `must be a boolean, got ${kindOf(worker)}`)
  for (const [field, value] of Object.entries({ concurrency, requestsPerMinute, maxPayloadBytes, choreBatch })) positiveInteger(value, field, invalid)
  const durations = { leaseMs, pollMs, maxAgeMs, backoffMinMs, backoffMaxMs, slowChatwootMs, probeMs, clientTimeoutMs, maintenanceMs, deleteWindowMs, settleMs, retentionMs, deadRetentionMs }
  for (const [field, value] of Object.entries(durations)) durationMs(value, field, invalid)
  if (backoffMaxMs < backoffMinMs) throw invalid('backoffMaxMs', `must be >= backoffMinMs (${backoffMinMs}), got ${backoffMaxMs}`)
  // A post needs a whole client timeout of lease ahead of it, and the lease is renewed at a third.
  if (leaseMs < 2 * clientTimeoutMs) throw invalid('leaseMs', `must be at least twice clientTimeoutMs (${clientTimeoutMs}), got ${leaseMs}`)
  // A row pruned before its check could no longer be re-delivered when its conversation turns out deleted.
  if (retentionMs < deleteWindowMs + settleMs) throw invalid('retentionMs', `must be >= deleteWindowMs + settleMs (${deleteWindowMs + settleMs}), got ${retentionMs}`)
  optionalFunction(contactKey, 'contactKey', invalid)
  optionalFunction(openAttachment, 'openAttachment', invalid)
  // The connection string is never shown: it can carry a password.
  if (connectionString !== undefined && (typeof connectionString !== 'string' || !/^postgres(ql)?:\/\//.test(connectionString))) {
    throw invalid('connectionString', `must be a postgres:// connection string, got ${kindOf(connectionString)} that is not one`)
  }
  if (pool !== undefined && !(isRecord(pool) && typeof pool.connect === 'function')) throw invalid('pool', `must be a pg.Pool, got ${kindOf(pool)}`)
  return {
    pool,
    connectionString,
    openAttachment,
    schema,
    worker,
    concurrency,
    leaseMs,
    pollMs,
    maxAgeMs,
    backoffMinMs,
    backoffMaxMs,
    slowChatwootMs,
    probeMs,
    requestsPerMinute,
    maxPayloadBytes,
    clientTimeoutMs,
    maintenanceMs,
    deleteWindowMs,
    settleMs,
    retentionMs,
    deadRetentionMs,
    choreBatch,
    contactKey
  }
}
