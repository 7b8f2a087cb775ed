// Where the reconciliation sweep got to, per instance, in Postgres: a restarted gateway goes on from there,
// so replies whose webhooks were lost while it was down are found. A lease on the row lets one replica
// sweep an instance per interval.
import type pg from 'pg'
import { inTransaction } from '../pg-transaction.js'

/** The sweep's position: messages above `messageId`, in conversations active since `activityAt` (Chatwoot's unix seconds). */
export interface Mark {
  messageId: number
  activityAt: number
}

const ms = (param: string) => `make_interval(secs => ${param}::float8 / 1000)`

export class Watermarks {
  readonly #pool: pg.Pool
  readonly #table: string
  readonly #schema: string

  constructor (pool: pg.Pool, schema: string) {
    this.#pool = pool
    this.#schema = schema
    this.#table = `${schema}.webhook_watermarks`
  }

  /** Idempotent, and safe from several processes at once (CREATE ... IF NOT EXISTS races without the lock). */
  async migrate (): Promise<void> {
    await inTransaction(await this.#pool.connect(), async (db) => {
      await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fastify-chatwoot:${this.#table}`])
      await db.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`)
      await db.query(`CREATE TABLE IF NOT EXISTS ${this.#table} (
        instance text PRIMARY KEY,
        message_id bigint,
        activity_at bigint,
        swept_at timestamptz,
        lease_owner text,
        lease_until timestamptz
      )`)
    })
  }

  /** An instance webhooks came for: swept from now on (its first sweep only sets the mark). */
  async note (instance: string): Promise<void> {
    await this.#pool.query(`INSERT INTO ${this.#table} (instance) VALUES ($1) ON CONFLICT DO NOTHING`, [instance])
  }

  async instances (): Promise<string[]> {
    const { rows } = await this.#pool.query<{ instance: string }>(`SELECT instance FROM ${this.#table} ORDER BY instance`)
    return rows.map((row) => row.instance)
  }

  /**
   * Takes the instance's sweep when no replica holds it and it was not swept within `everyMs` (0: whenever
   * free); the mark (null before the first sweep), or undefined when not taken.
   */
  async take (instance: string, owner: string, leaseMs: number, everyMs: number): Promise<Mark | null | undefined> {
    const { rows } = await this.#pool.query<{ message_id: string | null, activity_at: string | null }>(`
      UPDATE ${this.#table} SET lease_owner = $2, lease_until = now() + ${ms('$3')}
       WHERE instance = $1 AND (lease_until IS NULL OR lease_until < now())
         AND (swept_at IS NULL OR swept_at <= now() - ${ms('$4')})
      RETURNING message_id, activity_at`, [instance, owner, leaseMs, everyMs])
    const row = rows[0]
    if (row === undefined) return undefined
    return row.message_id === null ? null : { messageId: Number(row.message_id), activityAt: Number(row.activity_at) }
  }

  /** Ends a sweep: the new mark (or the old one kept, after a failure), the lease given back. */
  async finish (instance: string, owner: string, mark: Mark | undefined): Promise<void> {
    await this.#pool.query(`
      UPDATE ${this.#table} SET message_id = coalesce($3, message_id), activity_at = coalesce($4, activity_at),
             swept_at = now(), lease_owner = NULL, lease_until = NULL
       WHERE instance = $1 AND lease_owner = $2`, [instance, owner, mark?.messageId ?? null, mark?.activityAt ?? null])
  }
}
