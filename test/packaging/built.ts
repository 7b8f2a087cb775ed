import { execFile, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export const root = join(__dirname, '..', '..')

/** Builds dist/ when a test runs before `npm run build` (`npm test` builds it in typecheck). */
export function ensureBuilt (): void {
  if (existsSync(join(root, 'dist', 'index.js'))) return
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root })
}

/**
 * Runs `file` with `args` and answers its stdout; a failure carries the output, so a test shows why.
 * Never blocking: the child may call a server (the simulator) that runs in the test's own process.
 */
export async function run (file: string, args: string[], options: { cwd: string, env?: NodeJS.ProcessEnv }): Promise<{ ok: boolean, output: string }> {
  try {
    const { stdout } = await execFileAsync(file, args, { ...options, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
    return { ok: true, output: stdout.trim() }
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string, stderr?: string }
    return { ok: false, output: `${stdout}${stderr}`.trim() }
  }
}
