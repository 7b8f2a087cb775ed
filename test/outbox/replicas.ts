import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import type { OutboxWorkerSettings } from './fixtures/outbox-worker.js'

const root = join(__dirname, '..', '..')
const FIXTURE = join(__dirname, 'fixtures', 'outbox-worker.ts')

export interface Replica {
  child: ChildProcess
  /** stdout lines so far. */
  lines: string[]
  /** Resolves once the replica's workers run. */
  ready: Promise<void>
  /** Resolves when it exited, however. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null, stderr: string }>
  /** SIGKILL: no onClose, no lease released, mid-post or not. */
  kill (): void
  /** A clean close ('stop' on stdin). */
  stop (): Promise<void>
}

/** Starts one replica process of the outbox; the token travels in its environment only. */
export function startReplica (settings: OutboxWorkerSettings, token: string): Replica {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(settings)], {
    cwd: root,
    env: { ...process.env, FCW_TEST_CHATWOOT_TOKEN: token },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const lines: string[] = []
  let stderr = ''
  let pending = ''
  let markReady = () => {}
  let failReady = (_error: Error) => {}
  const ready = new Promise<void>((resolve, reject) => { markReady = resolve; failReady = reject })
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
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null, stderr: string }>((resolve) => {
    child.once('close', (code, signal) => {
      failReady(new Error(`replica exited (code ${code}, signal ${signal}) before it was ready: ${stderr}`))
      resolve({ code, signal, stderr })
    })
  })
  return {
    child,
    lines,
    ready,
    exited,
    kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') },
    stop: async () => {
      child.stdin!.end('stop\n')
      await exited
    }
  }
}
