// Runs once before the suite: a missing server fails the run at once with the variable to fix,
// instead of every test hanging on its connection timeout.
import { Socket } from 'node:net'
import { assertPostgresReachable } from '../../lib/testing/index.js'

const TIMEOUT_MS = 3000

async function checkPostgres (): Promise<string | undefined> {
  try {
    await assertPostgresReachable(undefined, TIMEOUT_MS)
    return undefined
  } catch (error) {
    return (error as Error).message
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
