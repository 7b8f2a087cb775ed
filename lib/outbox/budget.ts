import { BoundedMap } from '../bounded-map.js'
import type { Queryable } from './db.js'

// A request budget per Chatwoot origin, shared by every replica through one row per origin: Chatwoot
// allows 3,000 requests a minute per client IP, and replicas behind one NAT are one IP to it. Counted in
// windows of WINDOW_MS (a fixed minute would let two minutes' worth through around its edge).

export const WINDOW_MS = 10_000
const WINDOWS_PER_MINUTE = 60_000 / WINDOW_MS

export interface BudgetAnswer {
  /** 0: go; else how long until the next window opens. */
  waitMs: number
  used: number
}

/** The share of a minute's budget one window allows (at least 1). */
export function perWindow (requestsPerMinute: number): number {
  return Math.max(1, Math.floor(requestsPerMinute / WINDOWS_PER_MINUTE))
}

async function spend (db: Queryable, schema: string, origin: string, cost: number): Promise<{ used: number, leftMs: number }> {
  // The window's start is computed in the database, on its clock, so replicas with skewed clocks agree.
  const { rows } = await db.query<{ used: number, left_ms: number }>(`
    WITH now_window AS (
      SELECT to_timestamp(floor(extract(epoch FROM now()) * 1000 / $3) * $3 / 1000) AS start
    )
    INSERT INTO ${schema}.budgets AS b (origin, window_start, used)
    SELECT $1, start, $2 FROM now_window
    ON CONFLICT (origin) DO UPDATE SET
      used = CASE WHEN b.window_start = excluded.window_start THEN b.used + $2 ELSE $2 END,
      window_start = excluded.window_start
    RETURNING used, extract(epoch FROM window_start - now()) * 1000 + $3 AS left_ms`, [origin, cost, WINDOW_MS])
  const row = rows[0]!
  return { used: Number(row.used), leftMs: Number(row.left_ms) }
}

/** Takes `cost` requests of the origin's current window, or says how long to wait for the next. */
export async function take (db: Queryable, schema: string, origin: string, requestsPerMinute: number, cost = 1): Promise<BudgetAnswer> {
  const { used, leftMs } = await spend(db, schema, origin, cost)
  return { used, waitMs: used <= perWindow(requestsPerMinute) ? 0 : Math.max(1, Math.ceil(leftMs)) }
}

// A worker takes this many requests of the shared row at once and spends them itself: one statement per
// batch instead of one per attempt. At most a 16th of a window's share, so the replicas' batches cannot
// crowd one another out; what a process leaves unspent when its window closes is lost, never moved to the
// next window (the budget errs on the low side).
const MAX_BATCH = 16
// Local grants end this much before the database's window does: a request never counts in a window it
// was not taken from because of the round trip that brought the grant.
const WINDOW_MARGIN_MS = 100
const MAX_ORIGINS = 1000

/** Requests taken in one go at a time, for a budget of `requestsPerMinute`. */
export function batchOf (requestsPerMinute: number): number {
  return Math.min(MAX_BATCH, Math.max(1, Math.floor(perWindow(requestsPerMinute) / MAX_BATCH)))
}

/** One process's share of the origins' budgets: requests taken from the shared rows in batches, spent one per attempt. */
export class LocalBudget {
  readonly #left = new BoundedMap<string, { requests: number }>({ maxEntries: MAX_ORIGINS, sweepIntervalMs: WINDOW_MS })
  readonly #spend: (origin: string, cost: number) => Promise<{ used: number, leftMs: number }>
  readonly #limit: number
  readonly #batch: number

  constructor (db: Queryable, schema: string, requestsPerMinute: number) {
    this.#spend = (origin, cost) => spend(db, schema, origin, cost)
    this.#limit = perWindow(requestsPerMinute)
    this.#batch = batchOf(requestsPerMinute)
  }

  /** One request of the origin's budget: 0 to go, else how long until its next window opens. */
  async take (origin: string): Promise<number> {
    const left = this.#left.get(origin)
    if (left !== undefined && left.requests > 0) {
      left.requests--
      return 0
    }
    const { used, leftMs } = await this.#spend(origin, this.#batch)
    // Near the limit a batch is granted in part: only what was left of the window's share before it.
    const granted = Math.max(0, Math.min(this.#batch, this.#limit - (used - this.#batch)))
    if (granted === 0) return Math.max(1, Math.ceil(leftMs))
    const keepMs = leftMs - WINDOW_MARGIN_MS
    if (granted === 1 || keepMs <= 0) return 0
    // Loops that found none left at once each brought a batch: added up, none overwritten (and lost).
    const kept = this.#left.get(origin)
    if (kept === undefined) this.#left.set(origin, { requests: granted - 1 }, keepMs)
    else kept.requests += granted - 1
    return 0
  }
}
