import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { migrateLocks } from './postgres-locks-schema.js'
import type { ConversationStore } from './store.js'

/** What the get-or-create lock needs of a store. */
export type LockStore = Pick<ConversationStore, 'tryLock' | 'unlock' | 'extendLock'>

export interface PostgresLocksOptions {
  /** The schema of the `locks` table (a safe SQL identifier, checked by the caller). */
  schema: string
  /** How often a tryLock also prunes expired rows (in the background). Default 60 000. */
  pruneIntervalMs?: number
  /** Most expired rows one prune deletes. Default 1000. */
  pruneBatch?: number
}

/**
 * Locks as committed rows with an expiry on the database's clock, each owned by a random token. Every
 * operation is one statement in its own implicit transaction: nothing stays open between tryLock and
 * unlock, so a holder's Chatwoot call holds no connection, no row lock and no transaction (the embedded
 * PGlite runs one transaction at a time). A holder that dies stops extending; its row expires and the
 * next tryLock takes it over.
 */
export class PostgresLocks implements LockStore {
  readonly #pool: pg.Pool
  readonly #table: string
  readonly #schema: string
  readonly #pruneIntervalMs: number
  readonly #pruneBatch: number
  #nextPrune = 0
  #migrated: Promise<unknown> | undefined

  constructor (pool: pg.Pool, options: PostgresLocksOptions) {
    this.#pool = pool
    this.#schema = options.schema
    this.#table = `${options.schema}.locks`
    this.#pruneIntervalMs = options.pruneIntervalMs ?? 60_000
    this.#pruneBatch = options.pruneBatch ?? 1000
  }

  /** Creates the table (once; a failed attempt is tried again at the next call). */
  migrate (): Promise<unknown> {
    this.#migrated ??= migrateLocks(this.#pool, this.#schema).catch((error: unknown) => {
      this.#migrated = undefined
      throw error
    })
    return this.#migrated
  }

  async tryLock (key: string, ttlMs: number, abandoned?: AbortSignal): Promise<string | undefined> {
    await this.migrate()
    this.#pruneNowAndThen()
    const token = randomUUID()
    // Concurrent inserts of one key queue on its row: the first inserts, the others see a live lease and
    // update nothing. An expired lease is taken over in the same statement.
    const { rows } = await this.#pool.query<{ token: string }>(`
      INSERT INTO ${this.#table} (key, token, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
      ON CONFLICT (key) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
        WHERE ${this.#table}.expires_at <= now()
      RETURNING token`, [key, token, Math.ceil(ttlMs)])
    if (rows[0]?.token !== token) return undefined
    // Taken after the caller stopped waiting: nobody knows this token, so give the lock back now rather
    // than make every other worker wait out its ttl.
    if (abandoned?.aborted === true) {
      await this.unlock(key, token)
      return undefined
    }
    return token
  }

  async unlock (key: string, token: string): Promise<void> {
    await this.#pool.query(`DELETE FROM ${this.#table} WHERE key = $1 AND token = $2`, [key, token])
  }

  async extendLock (key: string, token: string, ttlMs: number): Promise<boolean> {
    // An expired lease is not extended (another worker may be taking it over): as a Redis key that expired.
    const { rowCount } = await this.#pool.query(`
      UPDATE ${this.#table} SET expires_at = now() + $3 * interval '1 millisecond'
       WHERE key = $1 AND token = $2 AND expires_at > now()`, [key, token, Math.ceil(ttlMs)])
    return rowCount === 1
  }

  /**
   * Deletes up to `limit` expired rows (locks whose holder died or whose unlock was lost); their count.
   * The expiry is checked again on the row deleted, so a lease taken over meanwhile is left alone.
   */
  async prune (limit = this.#pruneBatch): Promise<number> {
    await this.migrate()
    const { rowCount } = await this.#pool.query(`
      DELETE FROM ${this.#table} l USING (SELECT key FROM ${this.#table} WHERE expires_at <= now() LIMIT $1) old
       WHERE l.key = old.key AND l.expires_at <= now()`, [limit])
    return rowCount ?? 0
  }

  #pruneNowAndThen (): void {
    const now = Date.now()
    if (now < this.#nextPrune) return
    this.#nextPrune = now + this.#pruneIntervalMs
    // In the background: a delivery never waits on housekeeping, and a failed prune is tried next time.
    this.prune().catch(() => {})
  }
}
