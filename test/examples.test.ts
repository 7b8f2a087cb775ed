import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import tap, { test } from 'tap'
import { serverUrl } from '../lib/testing/index.js'
import { REDIS_URL } from './helpers/gateway.js'
import { requireServers } from './setup/servers.js'

const root = join(__dirname, '..')
// Two demo runs of 70 s or more each (the flood step waits out a minute's window), then `npm start`:
// longer than the suite's 120 s a file.
tap.setTimeout(480_000)
const run = promisify(execFile)

// What a newcomer has: no Postgres, no Redis configured.
function bareEnvironment (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'PGHOST', 'PGPORT', 'PGUSER', 'PGDATABASE', 'PGPASSWORD']) delete env[name]
  return env
}

interface Answer { status: number, body: string }

async function demo (env: NodeJS.ProcessEnv) {
  // The same command as `npm run demo`, without npm's own output around it. The flood step waits out
  // a whole minute of Chatwoot's per-conversation window, so the demo takes 70 s or more.
  const result = await run(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], { cwd: root, env, timeout: 180_000 })
    .then(({ stdout }) => ({ code: 0, stdout }), (error: { code?: number, stdout?: string, stderr?: string }) =>
      ({ code: error.code ?? 1, stdout: `${error.stdout}\n${error.stderr}` }))
  const table = result.stdout.split('\n').filter((line) => /^\d+\s{2}/.test(line))
  return { ...result, table }
}

test('npm run demo behaves on embedded defaults: PGlite and an in-process cache', async (t) => {
  const { code, stdout, table } = await demo(bareEnvironment())
  t.equal(code, 0, stdout)
  t.match(stdout, /database: embedded PGlite/)
  t.match(stdout, /conversation cache: in-process/)
  t.equal(table.length, 15, 'a summary row per step')
  for (const row of table) t.match(row, /yes\s*$/, row)
  t.match(stdout, /Every step behaved/)
})

test('npm run demo behaves on DATABASE_URL and REDIS_URL, and leaves nothing behind', async (t) => {
  await requireServers('postgres', 'redis')
  const env = { ...bareEnvironment(), DATABASE_URL: serverUrl(), REDIS_URL }
  const { code, stdout, table } = await demo(env)
  t.equal(code, 0, stdout)
  t.match(stdout, /database: DATABASE_URL/)
  t.match(stdout, /conversation cache: Redis at REDIS_URL/)
  t.equal(table.length, 15)
  for (const row of table) t.match(row, /yes\s*$/, row)
  t.notMatch(stdout, /postgres:\/\/[^@\s]*:[^@\s*]+@/, 'no password printed')
})

test('npm start serves the gateway, and the curl commands it prints work', async (t) => {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'examples/gateway/server.ts'], {
    cwd: root, env: { ...bareEnvironment(), PORT: '0', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await exited
  })
  let output = ''
  child.stdout?.on('data', (chunk) => { output += chunk })
  child.stderr?.on('data', (chunk) => { output += chunk })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 60 s:\n${output}`)), 60_000)
    child.stdout?.on('data', () => {
      if (output.includes('Ctrl-C')) { clearTimeout(timer); resolve() }
    })
    child.once('exit', () => reject(new Error(`exited early:\n${output}`)))
  })

  // Each printed command, continuation lines joined, run by a shell as a reader would paste it.
  const commands = output.replace(/\\\n\s*/g, '').split('\n').map((line) => line.trim()).filter((line) => line.startsWith('curl '))
  t.equal(commands.length, 5, output)
  const answers: string[] = []
  for (const command of commands) {
    const { stdout } = await run('sh', ['-c', `${command} -w '\\n%{http_code}'`], { cwd: root })
    answers.push(stdout)
  }
  const [message, media, health, metrics, added] = answers.map((answer) => {
    const lines = answer.trimEnd().split('\n')
    return { status: Number(lines.pop()), body: lines.join('\n') }
  }) as [Answer, Answer, Answer, Answer, Answer]
  t.equal(message.status, 200, message.body)
  t.equal(JSON.parse(message.body).cache, 'miss')
  t.equal(media.status, 200, media.body)
  t.equal(JSON.parse(media.body).conversationId, JSON.parse(message.body).conversationId, 'the media joins the same conversation')
  t.equal(health.status, 200)
  t.equal(JSON.parse(health.body).status, 'ok')
  t.match(metrics.body, /chatwoot_conversation_events_total\{event="deliveries"\} 2/)
  t.equal(added.status, 201)
  t.notMatch(added.body, /wrong-token/, 'the token is not echoed')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM closes the gateway and the simulator cleanly')
})
