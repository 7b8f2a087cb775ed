// Runs once before the suite: a missing server fails the run at once with the variable to fix,
// instead of every test hanging on its connection timeout.
import { Socket } from 'node:net'
import pg from 'pg'
import { serverUrl } from '../../lib/testing/index.js'
import { redactConnectionString } from '../../lib/postgres/target.js'

const TIMEOUT_MS = 3000

async function checkPostgres (): Promise<string | undefined> {
  const url = serverUrl()
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('select 1')
    return undefined
  } catch (error) {
    return `PostgreSQL is not reachable at ${redactConnectionString(url)}: ${(error as Error).message}. ` +
      'Set DATABASE_URL (or PGHOST/PGPORT/PGUSER) to a server that answers.'
  } finally {
    await client.end().catch(() => {})
  }
}

function checkRedis (): Promise<string | undefined> {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  const port = Number(url.port || 6379)
  return new Promise((resolve) => {
    const socket = new Socket()
    const fail = (why: string) => {
      socket.destroy()
      resolve(`Redis is not reachable at ${url.hostname}:${port}: ${why}. Set REDIS_URL to a server that answers.`)
    }
    socket.setTimeout(TIMEOUT_MS, () => fail(`no answer within ${TIMEOUT_MS} ms`))
    socket.once('error', (error) => fail(error.message))
    socket.connect(port, url.hostname, () => socket.write('PING\r\n'))
    socket.once('data', (data) => {
      socket.destroy()
      // An auth-protected server answers -NOAUTH, which still proves it is there.
      resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()) ? undefined : `unexpected answer ${JSON.stringify(data.toString().slice(0, 40))}`)
    })
  })
}

Promise.all([checkPostgres(), checkRedis()]).then((results) => {
  const problems = results.filter(Boolean)
  for (const problem of problems) console.error(problem)
  process.exitCode = problems.length > 0 ? 1 : 0
}, (error) => {
  console.error(error)
  process.exitCode = 1
})
