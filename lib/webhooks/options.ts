import type pg from 'pg'
import type { RedisClientLike } from '../conversations/options.js'
import { durationMs, isRecord, kindOf, optionalFunction, optionsInvalid, positiveInteger } from '../options.js'
import { hasSourceId, type IsEcho, type WebhookMessage } from './events.js'

/** What the host's handler gets with an agent's message. */
export interface AgentMessageContext {
  /** Stable for one Chatwoot message: give it to the channel so a handler run twice sends once. */
  idempotencyKey: string
  conversationId: number
}

export type OnAgentMessage = (instance: string, message: WebhookMessage, context: AgentMessageContext) => Promise<unknown> | unknown

export interface ChatwootWebhooksOptions {
  /** Sends an agent's reply to the customer's channel (WhatsApp...). Throwing marks it failed in Chatwoot. */
  onAgentMessage: OnAgentMessage
  /** The route; must contain `:instance`. Default `/chatwoot/webhooks/:instance`. */
  path?: string
  /** How far X-Chatwoot-Timestamp may be from this server's clock. Default 300 000 (Chatwoot's and Stripe's 5 min). */
  replayWindowMs?: number
  /** How long a delivery id or message id is remembered. Default 86 400 000 (a day): duplicates arrive within seconds. */
  dedupeTtlMs?: number
  /**
   * Instances whose Chatwoot (4.9 and older) does not sign: each maps to a secret token that must
   * then end the path (`/chatwoot/webhooks/:instance/:token`). Logged as a warning at start-up.
   */
  unsigned?: Record<string, string>
  /** Shared dedupe across processes: an ioredis client, false for in-process only, unset for @fastify/redis's. */
  redis?: RedisClientLike | false
  /** Prefix of the Redis keys. Default `fastify-chatwoot:`. */
  keyPrefix?: string
  /** Recognises the gateway's own posts coming back. Default: the message has a source_id. */
  isEcho?: IsEcho
  /** Largest body accepted, in bytes. Default 1 MiB (Fastify's). */
  bodyLimit?: number
  /** With chatwootOutbox: runs of onAgentMessage before a reply is marked failed (a `retryable: false` error ends at once). Default 5. */
  replyAttempts?: number
  /**
   * With chatwootOutbox: how often each instance's recent outgoing messages are listed to enqueue replies whose
   * webhook never arrived. Default 300 000 (5 min); 0 turns the sweep off.
   */
  reconcileMs?: number
  /** A message younger than this is left to its webhook by the sweep. Default 60 000. */
  reconcileGraceMs?: number
  /** Where the sweep keeps its watermark: a pg.Pool, a connection string, or false. Default @fastify/postgres' `fastify.pg.pool`. */
  postgres?: pg.Pool | string | false
  /** The watermark table's schema. Default 'fastify_chatwoot'. */
  postgresSchema?: string
}

export interface WebhooksSettings {
  onAgentMessage: OnAgentMessage
  path: string
  tokenPath: string
  replayWindowMs: number
  dedupeTtlMs: number
  unsigned: ReadonlyMap<string, string>
  redis: RedisClientLike | false | undefined
  keyPrefix: string
  isEcho: IsEcho
  bodyLimit: number
  replyAttempts: number
  reconcileMs: number
  reconcileGraceMs: number
  postgres: pg.Pool | string | false | undefined
  postgresSchema: string
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/
const TOKEN = /^[A-Za-z0-9_-]{24,200}$/

export function webhooksOptions (options: ChatwootWebhooksOptions): WebhooksSettings {
  const invalid = optionsInvalid('chatwootWebhooks')
  const {
    onAgentMessage, path = '/chatwoot/webhooks/:instance', replayWindowMs = 300_000, dedupeTtlMs = 86_400_000,
    unsigned = {}, redis, keyPrefix = 'fastify-chatwoot:', isEcho = hasSourceId, bodyLimit = 1_048_576,
    replyAttempts = 5, reconcileMs = 300_000, reconcileGraceMs = 60_000, postgres, postgresSchema = 'fastify_chatwoot'
  } = options ?? {}
  if (typeof onAgentMessage !== 'function') throw invalid('onAgentMessage', `must be a function, got ${kindOf(onAgentMessage)}`)
  if (typeof path !== 'string' || !path.startsWith('/') || !path.includes(':instance')) {
    throw invalid('path', `must be a path starting with / that contains :instance, got ${typeof path === 'string' ? JSON.stringify(path) : kindOf(path)}`)
  }
  durationMs(replayWindowMs, 'replayWindowMs', invalid)
  durationMs(dedupeTtlMs, 'dedupeTtlMs', invalid)
  if (!isRecord(unsigned)) throw invalid('unsigned', `must be an object of instance name to path token, got ${kindOf(unsigned)}`)
  for (const [name, token] of Object.entries(unsigned)) {
    // The token is the only thing standing for a signature: it must be long and never shown.
    if (typeof token !== 'string' || !TOKEN.test(token)) {
      throw invalid(`unsigned.${name}`, `must be a token of 24 to 200 letters, digits, - or _, got ${kindOf(token)} that is not one`)
    }
  }
  if (typeof keyPrefix !== 'string') throw invalid('keyPrefix', `must be a string, got ${kindOf(keyPrefix)}`)
  optionalFunction(isEcho, 'isEcho', invalid)
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1) throw invalid('bodyLimit', `must be a positive integer of bytes, got ${typeof bodyLimit === 'number' ? String(bodyLimit) : kindOf(bodyLimit)}`)
  positiveInteger(replyAttempts, 'replyAttempts', invalid)
  if (reconcileMs !== 0) durationMs(reconcileMs, 'reconcileMs', invalid)
  durationMs(reconcileGraceMs, 'reconcileGraceMs', invalid)
  if (postgres !== undefined && postgres !== false && !(typeof postgres === 'string' && /^postgres(ql)?:\/\//.test(postgres)) &&
    typeof (postgres as { connect?: unknown } | null)?.connect !== 'function') {
    // The connection string is never shown: it can carry a password.
    throw invalid('postgres', `must be a pg.Pool, a postgres:// connection string or false, got ${kindOf(postgres)}`)
  }
  if (typeof postgresSchema !== 'string' || !SCHEMA.test(postgresSchema)) throw invalid('postgresSchema', `must be a lowercase SQL identifier, got ${kindOf(postgresSchema)}`)
  return {
    onAgentMessage,
    path,
    tokenPath: `${path.replace(/\/+$/, '')}/:token`,
    replayWindowMs,
    dedupeTtlMs,
    unsigned: new Map(Object.entries(unsigned)),
    redis,
    keyPrefix,
    isEcho,
    bodyLimit,
    replyAttempts,
    reconcileMs,
    reconcileGraceMs,
    postgres,
    postgresSchema
  }
}
