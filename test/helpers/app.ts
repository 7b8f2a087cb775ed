import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import pg from 'pg'
import { createTestDatabase, serverUrl, type TestDatabase } from '../../lib/testing/index.js'
import { requireServers } from '../setup/servers.js'

export interface CapturedLogs {
  lines: string[]
  /** Resolves with the first line, already logged or still to come, that matches. */
  waitFor (pattern: RegExp, timeoutMs?: number): Promise<string>
}

/** A Fastify app whose log lines (debug and up) are kept for assertions. */
export function appWithLogs (): { app: FastifyInstance, logs: CapturedLogs } {
  const lines: string[] = []
  const waiters = new Set<{ pattern: RegExp, resolve: (line: string) => void }>()
  const stream = new Writable({
    write (chunk, _encoding, done) {
      const line = chunk.toString()
      lines.push(line)
      for (const waiter of waiters) {
        if (waiter.pattern.test(line)) {
          waiters.delete(waiter)
          waiter.resolve(line)
        }
      }
      done()
    }
  })
  const app = Fastify({ logger: { level: 'debug', stream } })
  const logs: CapturedLogs = {
    lines,
    waitFor (pattern, timeoutMs = 5000) {
      const found = lines.find((line) => pattern.test(line))
      if (found !== undefined) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no log line matched ${pattern} within ${timeoutMs} ms`)), timeoutMs)
        waiters.add({ pattern, resolve: (line) => { clearTimeout(timer); resolve(line) } })
      })
    }
  }
  return { app, logs }
}

/** A fresh database dropped when the test ends. */
export async function testDatabase (t: { teardown: (fn: () => unknown) => void }): Promise<TestDatabase> {
  await requireServers('postgres')
  const db = await createTestDatabase()
  t.teardown(() => db.drop())
  return db
}

/** Runs one statement on the server as an administrator, outside the code under test. */
export async function admin<R extends pg.QueryResultRow = any> (text: string, values?: unknown[]): Promise<R[]> {
  await requireServers('postgres')
  const client = new pg.Client({ connectionString: serverUrl(), connectionTimeoutMillis: 3000 })
  await client.connect()
  try {
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end()
  }
}

/** Connections open on the server to `database`, optionally only those with one application_name. */
export async function connectionsTo (database: string, applicationName?: string): Promise<number> {
  const rows = await admin<{ count: string }>(
    'select count(*) from pg_stat_activity where datname = $1 and ($2::text is null or application_name = $2)',
    [database, applicationName ?? null]
  )
  return Number(rows[0]?.count)
}

/**
 * Polls until `read` gives `expected`. The server drops a backend shortly after the client
 * hung up, so connection counts settle rather than change at once.
 */
export async function settlesTo<T> (read: () => Promise<T>, expected: T, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let value = await read()
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    value = await read()
  }
  return value
}
