import pg from 'pg'
import { createTestDatabase } from '../database.js'
import { startEmbeddedPostgres } from '../embedded-postgres.js'
import { schema } from './schema.js'

export interface SimulatorDatabase {
  readonly pool: pg.Pool
  /** Where a gateway's own database code can reach these tables. */
  readonly url: string
  close (): Promise<void>
}

const TIMESTAMP_OID = 1114

// Rails stores UTC in `timestamp without time zone`; pg would read it as local time.
function getTypeParser (oid: number, format?: 'text' | 'binary'): any {
  if (oid === TIMESTAMP_OID && format !== 'binary') return (value: string) => new Date(value.replace(' ', 'T') + 'Z')
  return pg.types.getTypeParser(oid, format)
}

function poolFor (url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, application_name: 'chatwoot-simulator', types: { getTypeParser } })
  // An idle client's error (server restart, dropped database) must not crash the host process.
  pool.on('error', () => {})
  return pool
}

/** A fresh database on `server`, with Chatwoot's tables, dropped on close. */
export async function openServerDatabase (server: string): Promise<SimulatorDatabase> {
  const database = await createTestDatabase({ server })
  const pool = poolFor(database.url, 10)
  try {
    await pool.query(schema)
  } catch (error) {
    await pool.end()
    await database.drop()
    throw error
  }
  return {
    pool,
    url: database.url,
    async close () {
      await pool.end()
      await database.drop()
    }
  }
}

/** Chatwoot's tables in an embedded Postgres of this process (see startEmbeddedPostgres). */
export async function openEmbeddedDatabase (): Promise<SimulatorDatabase> {
  const embedded = await startEmbeddedPostgres()
  // One connection: PGlite's socket server interleaves concurrent connections' extended-protocol messages,
  // and under requests to several conversations at once a client then waits forever for its answer.
  const pool = poolFor(embedded.url, 1)
  const close = async () => {
    await pool.end()
    await embedded.close()
  }
  try {
    await pool.query(schema)
  } catch (error) {
    await close()
    throw error
  }
  return { pool, url: embedded.url, close }
}
