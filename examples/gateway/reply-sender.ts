import type { PostgresDb } from '@fastify/postgres'
import type { FastifyBaseLogger } from 'fastify'
import type { AgentMessageContext, WebhookMessage } from 'fastify-chatwoot'
import { ReplySenderDownError } from './errors.js'

export interface Outage {
  /** Refuse this many of the next sends. */
  failures?: number
  /** Refuse every send for this long. */
  forMs?: number
}

/**
 * What stands in for WhatsApp: an agent's reply is "sent" as a log line and a row of the `replies`
 * table, one row per idempotency key. A real channel given the key would not send it twice; this one
 * counts every call in `sends`, so a reply sent twice shows as 2 instead of being hidden. An outage
 * (`POST /replies/outage`) makes it refuse for a while, as a channel does; the state is per process.
 */
export class ReplySender {
  readonly #pg: PostgresDb
  readonly #log: FastifyBaseLogger
  #failuresLeft = 0
  #downUntil = 0

  constructor (pg: PostgresDb, log: FastifyBaseLogger) {
    this.#pg = pg
    this.#log = log
  }

  /** Starts (or with zeros ends) an outage; the state after it. */
  outage ({ failures = 0, forMs = 0 }: Outage) {
    this.#failuresLeft = failures
    this.#downUntil = forMs > 0 ? Date.now() + forMs : 0
    return this.state()
  }

  state () {
    return { failuresLeft: this.#failuresLeft, downForMs: Math.max(0, this.#downUntil - Date.now()) }
  }

  /** chatwootWebhooks' onAgentMessage. Throwing tells the library the reply did not go out. */
  readonly send = async (instance: string, message: WebhookMessage, { idempotencyKey, conversationId }: AgentMessageContext): Promise<void> => {
    const where = { instance, conversationId, messageId: message.id, idempotencyKey }
    const refusal = this.#refusal()
    if (refusal !== undefined) {
      const error = new ReplySenderDownError(refusal)
      await this.#pg.query(
        `INSERT INTO replies (idempotency_key, instance, conversation_id, message_id, content, failures, last_error)
              VALUES ($1, $2, $3, $4, $5, 1, $6)
         ON CONFLICT (idempotency_key) DO UPDATE SET failures = replies.failures + 1, last_error = excluded.last_error`,
        [idempotencyKey, instance, conversationId, message.id, message.content ?? null, error.message])
      this.#log.warn(where, 'reply NOT sent to WhatsApp (stand-in down)')
      throw error
    }
    await this.#pg.query(
      `INSERT INTO replies (idempotency_key, instance, conversation_id, message_id, content, sends, sent_at)
            VALUES ($1, $2, $3, $4, $5, 1, now())
       ON CONFLICT (idempotency_key) DO UPDATE SET sends = replies.sends + 1, sent_at = now()`,
      [idempotencyKey, instance, conversationId, message.id, message.content ?? null])
    // Ids only: a reply's text is the customer's conversation, not log material.
    this.#log.info(where, 'reply sent to WhatsApp (stand-in)')
  }

  #refusal (): string | undefined {
    if (this.#failuresLeft > 0) {
      this.#failuresLeft--
      return `outage: ${this.#failuresLeft} more refusal(s) to come`
    }
    const left = this.#downUntil - Date.now()
    return left > 0 ? `outage: down for ${left} ms more` : undefined
  }
}

export interface ReplyRow {
  idempotencyKey: string
  instance: string
  conversationId: number
  messageId: number
  content: string | null
  sends: number
  failures: number
  lastError: string | null
  sentAt: Date | null
}

/** The latest replies, newest first, of one instance or all. */
export async function listReplies (pg: PostgresDb, { instance, limit }: { instance?: string, limit: number }): Promise<ReplyRow[]> {
  const { rows } = await pg.query<ReplyRow>(
    `SELECT idempotency_key AS "idempotencyKey", instance, conversation_id AS "conversationId", message_id AS "messageId",
            content, sends, failures, last_error AS "lastError", sent_at AS "sentAt"
       FROM replies WHERE ($1::text IS NULL OR instance = $1)
      ORDER BY first_call_at DESC, message_id DESC LIMIT $2`, [instance ?? null, limit])
  return rows
}
