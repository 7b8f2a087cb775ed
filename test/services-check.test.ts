import { execFile } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { test } from 'tap'
import { createTestDatabase } from '../lib/testing/index.js'

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

test('the suite refuses to start, naming each service and its variable, when a server is missing', async (t) => {
  const [pgPort, redisPort] = await Promise.all([closedPort(), closedPort()])
  const env = {
    ...process.env,
    DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${pgPort}/postgres`,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`
  }
  const result = await new Promise<{ code: number | null, stderr: string }>((resolve) => {
    const child = execFile(process.execPath, ['--import=tsx', join(__dirname, 'setup', 'services.ts')],
      { env, timeout: 20_000 }, (error, _stdout, stderr) => {
        resolve({ code: error ? (error as { code?: number }).code ?? null : 0, stderr })
      })
    child.stdin?.end()
  })
  t.equal(result.code, 1, 'exits with 1 (not killed by the timeout)')
  t.match(result.stderr, `PostgreSQL is not reachable at postgres://postgres:***@127.0.0.1:${pgPort}/postgres`)
  t.match(result.stderr, 'DATABASE_URL')
  t.match(result.stderr, `Redis is not reachable at 127.0.0.1:${redisPort}`)
  t.match(result.stderr, 'REDIS_URL')
  t.notMatch(result.stderr, 'hunter2', 'the password is masked')
})

test('createTestDatabase fails fast with the variables to set', async (t) => {
  const port = await closedPort()
  await t.rejects(createTestDatabase({ server: `postgres://postgres@127.0.0.1:${port}/postgres`, connectTimeoutMs: 1000 }),
    { message: /PostgreSQL is not reachable at postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres .*set DATABASE_URL or PGHOST/ })
})

test('createTestDatabase gives a fresh database and drops it', async (t) => {
  const db = await createTestDatabase()
  t.match(db.name, /^fcw_[0-9a-f]{12}$/)
  t.match(db.url, `/${db.name}`)
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  const { rows } = await client.query('select current_database() as name')
  t.equal(rows[0].name, db.name)
  await client.end()
  await db.drop()
  const admin = new pg.Client({ connectionString: db.url.replace(db.name, 'postgres') })
  await admin.connect()
  const gone = await admin.query('select 1 from pg_database where datname = $1', [db.name])
  await admin.end()
  t.equal(gone.rowCount, 0, 'dropped')
})
