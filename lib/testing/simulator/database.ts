import pg from 'pg'
import { createTestDatabase } from '../database.js'
import { SimulatorEmbeddedUnavailableError } from './errors.js'
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

/** Postgres compiled to WASM in this process, served over a local socket so node-postgres can use it. */
export async function openEmbeddedDatabase (): Promise<SimulatorDatabase> {
  // Loaded on demand: they are optional peers, needed only when no server is given.
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')
  ]).catch((error: Error) => {
    throw new SimulatorEmbeddedUnavailableError(error.message, { cause: error })
  })
  const db = await PGlite.create()
  // PGlite runs one query at a time; the socket server queues them and keeps a transaction's
  // queries on its own connection, so several pool clients are safe.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 })
  await server.start()
  const url = `postgres://postgres@${server.getServerConn()}/postgres`
  const pool = poolFor(url, 8)
  const close = async () => {
    await pool.end()
    await server.stop()
    await db.close()
  }
  try {
    await pool.query(schema)
  } catch (error) {
    await close()
    throw error
  }
  return { pool, url, close }
}
