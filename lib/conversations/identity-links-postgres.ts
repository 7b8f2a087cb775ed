import type pg from 'pg'
import type { OutageGuard } from './guarded-store.js'

// The identity map's durable copy (docs/identity.md): every link that changes Redis's map is written here
// too, so a Redis that loses its data gets the links back (read-through), and while Redis is down the
// processes link here and agree. Ids arrive escaped as Redis stores them, so both order them alike.

/** What a link in Postgres answers: the joined group's canonical id and the groups it joined (escaped ids). */
export interface DurableLink {
  canonical: string
  joined: string[]
  /** Any row was written: the map changed. */
  changed: boolean
}

/** The durable links the identity map asks; each call is one statement, bounded by the Postgres outage guard. */
export interface DurableLinks {
  /** id -> canonical id for the ids that have a link (ids without one, canonical ids among them, are left out). */
  canonicals (instance: string, ids: readonly string[]): Promise<Map<string, string>>
  /** Links `ids` into one group (the smallest canonical id of the groups wins), atomically across processes. */
  link (instance: string, ids: readonly string[]): Promise<DurableLink>
}

export class PostgresLinks implements DurableLinks {
  readonly #pool: pg.Pool
  readonly #schema: string
  readonly #guard: OutageGuard
  readonly #migrate: () => Promise<unknown>

  /** `migrate` creates the table and function (the lock store's memoised migration, tried again after a failure). */
  constructor (pool: pg.Pool, schema: string, guard: OutageGuard, migrate: () => Promise<unknown>) {
    this.#pool = pool
    this.#schema = schema
    this.#guard = guard
    this.#migrate = migrate
  }

  canonicals (instance: string, ids: readonly string[]): Promise<Map<string, string>> {
    return this.#guard.run(async () => {
      await this.#migrate()
      const { rows } = await this.#pool.query<{ id: string, canonical: string }>(
        `SELECT id, canonical FROM ${this.#schema}.identity_links WHERE instance = $1 AND id = ANY ($2::text[])`, [instance, ids])
      return new Map(rows.map((row) => [row.id, row.canonical]))
    })
  }

  link (instance: string, ids: readonly string[]): Promise<DurableLink> {
    return this.#guard.run(async () => {
      await this.#migrate()
      const { rows } = await this.#pool.query<{ winner: string, losers: string[], changed: boolean }>(
        `SELECT winner, losers, changed FROM ${this.#schema}.link_identities($1, $2::text[])`, [instance, ids])
      const row = rows[0]!
      return { canonical: row.winner, joined: row.losers, changed: row.changed }
    })
  }
}
