import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { startTestProcess } from '../helpers/processes.js'
import type { OutboxWorkerSettings } from './fixtures/outbox-worker.js'

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
  const { child, lines, ready, exited } = startTestProcess(FIXTURE, settings, token, 'replica')
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
