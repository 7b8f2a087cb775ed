// The servers a test uses are checked where it uses them, not before the whole suite: pure tests
// run with Postgres and Redis stopped, and a test that needs a missing server fails at once with
// the variable to fix instead of hanging on a client that retries (ioredis retries forever).
import { Socket } from 'node:net'
import { before } from 'tap'
import { assertPostgresReachable } from '../../lib/testing/index.js'

export type Server = 'postgres' | 'redis'

export const CHECK_TIMEOUT_MS = 3000

/** The Redis the suite runs against. */
export function redisUrl (): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
}

/** Undefined when Postgres answers, else why not (the password masked) and the variables to set. */
export async function checkPostgres (timeoutMs = CHECK_TIMEOUT_MS): Promise<string | undefined> {
  try {
    await assertPostgresReachable(undefined, timeoutMs)
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}

/** Undefined when Redis answers PING, else why not and the variable to set. Never shows the URL's password. */
export function checkRedis (timeoutMs = CHECK_TIMEOUT_MS): Promise<string | undefined> {
  let url: URL
  try {
    url = new URL(redisUrl())
  } catch {
    return Promise.resolve('REDIS_URL is not a URL: set it to redis://host:port')
  }
  const port = Number(url.port || 6379)
  return new Promise((resolve) => {
    const socket = new Socket()
    const fail = (why: string) => {
      socket.destroy()
      resolve(`Redis is not reachable at ${url.hostname}:${port}: ${why}. Set REDIS_URL to a server that answers.`)
    }
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms`))
    socket.once('error', (error) => fail(error.message))
    socket.connect(port, url.hostname, () => socket.write('PING\r\n'))
    socket.once('data', (data) => {
      socket.destroy()
      // An auth-protected server answers -NOAUTH, which still proves it is there.
      if (/^(\+PONG|-NOAUTH)/.test(data.toString())) resolve(undefined)
      else fail(`unexpected answer ${JSON.stringify(data.toString().slice(0, 40))}`)
    })
  })
}

const CHECKS: Record<Server, () => Promise<string | undefined>> = { postgres: checkPostgres, redis: checkRedis }
// Once per process and server: after the first failure every later test fails without waiting again.
const outcomes = new Map<Server, Promise<string | undefined>>()

export class ServerMissingError extends Error {
  readonly code = 'TEST_SERVER_MISSING'
}

/** Resolves when every server in `servers` answers; else rejects naming each missing one and its variable. */
export async function requireServers (...servers: Server[]): Promise<void> {
  const wanted: Server[] = servers.length > 0 ? servers : ['postgres', 'redis']
  const problems = await Promise.all(wanted.map((server) => {
    let outcome = outcomes.get(server)
    if (outcome === undefined) {
      outcome = CHECKS[server]()
      outcomes.set(server, outcome)
    }
    return outcome
  }))
  const missing = problems.filter((problem): problem is string => problem !== undefined)
  if (missing.length > 0) throw new ServerMissingError(missing.join('\n'))
}

/**
 * For a test file that opens its own connections: checks `servers` before its first test. A failed
 * check fails the file at once and runs none of its tests (tap's `before`).
 */
export function usesServers (...servers: Server[]): void {
  before(() => requireServers(...servers))
}
