import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'tap'
import { simulatedAccount } from '../helpers/simulator.js'
import { ensureBuilt, root, run } from './built.js'

interface Manifest { dependencies?: Record<string, string>, peerDependencies?: Record<string, string>, peerDependenciesMeta?: Record<string, { optional?: boolean }> }

function link (modules: string, name: string): void {
  const target = join(root, 'node_modules', name)
  if (!existsSync(target)) throw new Error(`${name} is not installed in ${root}`)
  mkdirSync(dirname(join(modules, name)), { recursive: true })
  symlinkSync(target, join(modules, name), 'dir')
}

/**
 * A user's project made from the tarball `npm pack` writes: the package under node_modules with its
 * own dependencies (as npm nests them when the user has none), and at the top only what a fastify
 * user has themselves: fastify (our peer) and @types/node. No @types/pg of the user's.
 */
async function consumerProject (t: { teardown: (fn: () => unknown) => void }) {
  ensureBuilt()
  const dir = mkdtempSync(join(tmpdir(), 'fastify-chatwoot-consumer-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root })
  if (!packed.ok) throw new Error(`npm pack failed: ${packed.output}`)
  const [{ filename, files }] = JSON.parse(packed.output) as [{ filename: string, files: Array<{ path: string }> }]
  const installed = join(dir, 'node_modules', 'fastify-chatwoot')
  mkdirSync(installed, { recursive: true })
  const untar = await run('tar', ['-xzf', join(dir, filename), '-C', installed, '--strip-components=1'], { cwd: dir })
  if (!untar.ok) throw new Error(`tar failed: ${untar.output}`)

  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Manifest
  for (const name of Object.keys(manifest.dependencies ?? {})) link(join(installed, 'node_modules'), name)
  const peers = Object.keys(manifest.peerDependencies ?? {}).filter((name) => manifest.peerDependenciesMeta?.[name]?.optional !== true)
  for (const name of [...peers, '@types/node']) link(join(dir, 'node_modules'), name)
  cpSync(join(__dirname, 'consumer'), dir, { recursive: true })
  return { dir, installed, files: files.map((file) => file.path) }
}

const tsc = async (dir: string) => await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir })

test('the packed package: its files, its types for a checkJs CommonJS user without @types/pg, and require() registered as is', async (t) => {
  const { dir, installed, files } = await consumerProject(t)

  for (const file of ['LICENSE', 'package.json', 'cjs/index.js', 'cjs/index.d.ts', 'esm/index.mjs', 'esm/index.d.mts', 'dist/index.js', 'dist/index.d.ts']) {
    t.ok(files.includes(file), `the tarball has ${file}`)
  }
  t.same(files.filter((file) => /^(test|bench|examples|\.ci)\/|\.tsbuildinfo$/.test(file)), [], 'and nothing of the repository besides')
  t.match(readFileSync(join(installed, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 fastify-chatwoot contributors\n/)
  t.notOk(existsSync(join(dir, 'node_modules', '@types', 'pg')), 'the user has no @types/pg of their own')

  const checked = await tsc(dir)
  t.ok(checked.ok, `app.js and esm.mjs type-check (checkJs, skipLibCheck: false)\n${checked.output}`)

  // The same check without the package's own @types/pg: what a user got before it was a dependency.
  rmSync(join(installed, 'node_modules', '@types', 'pg'))
  const without = await tsc(dir)
  t.notOk(without.ok, 'without @types/pg among its dependencies the published types do not check')
  t.match(without.output, /Could not find a declaration file for module 'pg'/)

  const { sim, account } = await simulatedAccount(t)
  const ran = await run(process.execPath, ['runtime.js'], {
    cwd: dir,
    env: {
      ...process.env,
      CHATWOOT_URL: sim.url,
      CHATWOOT_TOKEN: account.token,
      CHATWOOT_ACCOUNT: String(account.accountId),
      CHATWOOT_INBOX: String(account.inboxId)
    }
  })
  t.ok(ran.ok, ran.output)
  const answer = JSON.parse(ran.output.split('\n').at(-1) ?? '{}')
  t.same(answer.decorators, ['chatwootInstances', 'chatwoot'], 'every plugin but instancePostgres (postgres: false)')
  t.equal(answer.sameObjects, true, 'require(...).default and .fastifyChatwoot are the plugin itself')
  t.same(answer.found, { status: 200, body: [account.inboxId] }, 'a route with config.chatwoot reaches the simulated Chatwoot')
  t.same(answer.missing, { status: 404, code: 'FST_CHATWOOT_INSTANCE_NOT_FOUND' })
})
