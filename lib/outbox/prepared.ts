import { createHash } from 'node:crypto'
import type pg from 'pg'
import { BoundedMap } from '../bounded-map.js'
import type { OutboxPool } from './db.js'

// The worker's statements (a claim, a settle that keeps its lane) are long CTEs sent a few times per
// delivered entry. Sent unnamed, Postgres parses, analyses and plans each one at every call: measured
// at 1.8 ms of server CPU a statement against 0.5 ms named (docs/benchmarks.md), which on a busy host
// is most of what the outbox adds to a delivery. Named, each connection parses a statement once and
// keeps its plan. Not on the embedded PGlite, whose connections share one session (their names would
// collide), nor through a pooler that cannot carry named statements across transactions (see
// docs/outbox.md).

/** A statement's name: the same text always gets the same name, so each connection prepares it once. */
export function statementName (text: string): string {
  return `fco_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
}

// The texts are the worker's own statements for one schema: a handful. Bounded all the same.
const MAX_NAMES = 256

/** The pool with every one-statement query sent as a named statement; transactions (connect) are left as they are. */
export function prepared (pool: OutboxPool): OutboxPool {
  const named = pool as unknown as { query (config: pg.QueryConfig): Promise<pg.QueryResult> }
  // A name is a sha1 of a statement's 2-5 kB text: hashed once per text, not at every call (the drain
  // sends one or two statements per entry; hashing them was 40 µs of this process's CPU an entry).
  const names = new BoundedMap<string, string>({ maxEntries: MAX_NAMES })
  const nameOf = (text: string) => {
    let name = names.get(text)
    if (name === undefined) names.set(text, name = statementName(text))
    return name
  }
  return {
    query: (text, values) => named.query({ name: nameOf(text), text, values }),
    connect: () => pool.connect()
  }
}
