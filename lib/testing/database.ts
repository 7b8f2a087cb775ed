import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { redactConnectionString, scrubSecrets, secretsOf } from '../postgres/target.js'

export interface TestDatabase {
  /** The database's name, `fcw_` followed by random hex. */
  readonly name: string
  /** A connection string for it, on the same server as the one you gave. */
  readonly url: string
  /** Closes every connection to it and drops it. */
  drop (): Promise<void>
}

export interface CreateTestDatabaseOptions {
  /** A connection string to any database of the server; default DATABASE_URL, else the PG* variables. */
  server?: string
  /** Milliseconds to wait for the server before failing. Default 3000. */
  connectTimeoutMs?: number
}

// How long a drop waits for connections that are closing to be gone.
const DRAIN_MS = 2000

/**
 * A fresh, empty database for one test, so tests run in parallel without sharing rows.
 * Fails fast, naming the server and the variables that point at it, when it cannot connect.
 */
export async function createTestDatabase (options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const { server = serverUrl(), connectTimeoutMs = 3000 } = options
  const name = `fcw_${randomBytes(6).toString('hex')}`
  const url = parsedServer(server)
  url.pathname = `/${name}`
  await withAdmin(server, connectTimeoutMs, (admin) => admin.query(`CREATE DATABASE ${name}`))
  return {
    name,
    url: url.toString(),
    drop: () => withAdmin(server, connectTimeoutMs, async (admin) => {
      // pg's pool.end() resolves once its connections are told to close, a moment before the server lets
      // them go: forcing the drop then kills one mid-goodbye, and its client throws in the test's process.
      // Connections still open after a short wait are a test's own leak, and forced as before.
      for (let waited = 0; waited < DRAIN_MS; waited += 20) {
        const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name])
        if (rows[0]?.n === 0) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    })
  }
}

/** Fails fast, naming the server and the variables to set, when Postgres does not answer. */
export async function assertPostgresReachable (server = serverUrl(), connectTimeoutMs = 3000): Promise<void> {
  await withAdmin(server, connectTimeoutMs, (admin) => admin.query('select 1'))
}

/** The server tests use: DATABASE_URL, else one built from PGHOST, PGPORT, PGUSER and PGPASSWORD. */
export function serverUrl (): string {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL
  const url = new URL('postgres://localhost')
  url.hostname = process.env.PGHOST ?? '127.0.0.1'
  url.port = process.env.PGPORT ?? '5432'
  url.username = process.env.PGUSER ?? 'postgres'
  if (process.env.PGPASSWORD) url.password = process.env.PGPASSWORD
  url.pathname = `/${process.env.PGDATABASE ?? 'postgres'}`
  return url.toString()
}

// pg reads some strings `new URL` refuses ('postgres://u:pw@/db'), and URL's error carries the
// raw string, password included, in `input`: it is replaced by one naming the server masked.
function parsedServer (server: string): URL {
  try {
    return new URL(server)
  } catch {
    throw new Error(`cannot name a test database on ${redactConnectionString(server)}: give DATABASE_URL as a URL`)
  }
}

async function withAdmin<T> (server: string, connectTimeoutMs: number, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: server, connectionTimeoutMillis: connectTimeoutMs })
  try {
    await client.connect()
  } catch (error) {
    throw new Error(`PostgreSQL is not reachable at ${redactConnectionString(server)} ` +
      `(${scrubSecrets((error as Error).message, secretsOf(server))}); set DATABASE_URL or PGHOST/PGPORT/PGUSER to a server that answers`)
  }
  try {
    return await work(client)
  } finally {
    await client.end().catch(() => {})
  }
}
