import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'

const root = join(__dirname, '..', '..')

export interface TestProcess {
  child: ChildProcess
  /** stdout lines so far (the last unterminated one is added at exit). */
  lines: string[]
  /** Resolves once the process printed 'ready'; rejects if it exits first. */
  ready: Promise<void>
  /** Resolves when it exited, however: its code, signal, stdout lines and stderr. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null, lines: string[], stderr: string }>
}

/**
 * Starts `script` (TypeScript, through tsx) with `settings` as its JSON argument. The token travels in the
 * environment only (FCW_TEST_CHATWOOT_TOKEN), never on the command line or in output.
 */
export function startTestProcess (script: string, settings: unknown, token: string, name: string): TestProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(settings)], {
    cwd: root,
    env: { ...process.env, FCW_TEST_CHATWOOT_TOKEN: token },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const lines: string[] = []
  let stderr = ''
  let pending = ''
  let markReady = () => {}
  let failReady = (_error: Error) => {}
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve
    failReady = reject
  })
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    pending += chunk
    const parts = pending.split('\n')
    pending = parts.pop()!
    for (const line of parts) {
      lines.push(line)
      if (line === 'ready') markReady()
    }
  })
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null, lines: string[], stderr: string }>((resolve) => {
    child.once('close', (code, signal) => {
      if (pending !== '') lines.push(pending)
      failReady(new Error(`${name} exited (code ${code}, signal ${signal}) before it was ready: ${stderr}`))
      resolve({ code, signal, lines, stderr })
    })
  })
  return { child, lines, ready, exited }
}
