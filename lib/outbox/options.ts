import type pg from 'pg'
import type { DeliveryContact } from '../conversations/get-or-create.js'
import { OptionsInvalidError } from '../errors.js'
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
  /** Lanes one process works at once. Default 4. */
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
  /** The client's timeout where an instance sets none (keep equal to chatwootClient's `timeout`). Default 5000. */
  clientTimeoutMs?: number
  /** How often the chores run (maxAge of paused instances' entries, pauses whose settings changed). Default 5000. */
  maintenanceMs?: number
  /** The lane and idempotency key of a contact: keep it the same as chatwootConversations'. Default the identifier. */
  contactKey?: (contact: DeliveryContact) => string
  /** Opens an attachment enqueued as `{ ref }`. */
  openAttachment?: OpenAttachment
}

const MINUTE = 60_000
const HOUR = 60 * MINUTE

export type OutboxSettings = Required<Omit<ChatwootOutboxOptions, 'pool' | 'connectionString' | 'openAttachment'>> &
Pick<ChatwootOutboxOptions, 'pool' | 'connectionString' | 'openAttachment'>

function check (condition: boolean, name: string, expected: string, got: unknown) {
  if (!condition) throw new OptionsInvalidError('chatwootOutbox', `option "${name}" must be ${expected}, got ${typeof got === 'function' ? 'a function' : String(got)}`)
}

const isPositive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0

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
    contactKey = (contact: DeliveryContact) => contact.identifier
  } = options ?? {}
  check(typeof schema === 'string' && SCHEMA_NAME.test(schema), 'schema', 'a lowercase SQL identifier', schema)
  check(typeof worker === 'boolean', 'worker', 'a boolean', worker)
  check(Number.isInteger(concurrency) && concurrency > 0, 'concurrency', 'a positive integer', concurrency)
  const durations = { leaseMs, pollMs, maxAgeMs, backoffMinMs, backoffMaxMs, slowChatwootMs, probeMs, clientTimeoutMs, maintenanceMs }
  for (const [name, value] of Object.entries(durations)) check(isPositive(value), name, 'a number of milliseconds > 0', value)
  check(backoffMaxMs >= backoffMinMs, 'backoffMaxMs', `>= backoffMinMs (${backoffMinMs})`, backoffMaxMs)
  // A post needs a whole client timeout of lease ahead of it, and the lease is renewed at a third.
  check(leaseMs >= 2 * clientTimeoutMs, 'leaseMs', `at least twice clientTimeoutMs (${clientTimeoutMs})`, leaseMs)
  check(Number.isInteger(requestsPerMinute) && requestsPerMinute > 0, 'requestsPerMinute', 'a positive integer', requestsPerMinute)
  check(Number.isInteger(maxPayloadBytes) && maxPayloadBytes > 0, 'maxPayloadBytes', 'a positive integer', maxPayloadBytes)
  check(typeof contactKey === 'function', 'contactKey', 'a function', contactKey)
  check(openAttachment === undefined || typeof openAttachment === 'function', 'openAttachment', 'a function', openAttachment)
  check(connectionString === undefined || (typeof connectionString === 'string' && /^postgres(ql)?:\/\//.test(connectionString)),
    'connectionString', 'a postgres:// connection string', connectionString === undefined ? undefined : '(not a postgres:// string)')
  check(pool === undefined || (typeof pool === 'object' && pool !== null && typeof pool.connect === 'function'), 'pool', 'a pg.Pool', pool)
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
    contactKey
  }
}
