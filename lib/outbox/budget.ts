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

/** Takes `cost` requests of the origin's current window, or says how long to wait for the next. */
export async function take (db: Queryable, schema: string, origin: string, requestsPerMinute: number, cost = 1): Promise<BudgetAnswer> {
  const limit = perWindow(requestsPerMinute)
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
  const used = Number(row.used)
  return { used, waitMs: used <= limit ? 0 : Math.max(1, Math.ceil(Number(row.left_ms))) }
}
