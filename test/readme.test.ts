import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type Test, test } from 'tap'
import ts from 'typescript'
import { createChatwootSimulator, createTestDatabase, serverUrl } from '../lib/testing/index.js'
import { REDIS_URL } from './helpers/gateway.js'

// Every code block of README.md and docs/*.md is checked here: TypeScript blocks are type-checked as a
// user's ESM file importing the built package (and those after `<!-- run -->` are run), JavaScript
// blocks as a user's CommonJS file under checkJs, shell blocks name only scripts and packages this
// project has, and their curl commands run against the gateway.
const root = join(__dirname, '..')
const run = promisify(execFile)
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)]
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

interface Block { file: string, language: string, line: number, code: string, runs: boolean }

function codeBlocks (file: string, text: string): Block[] {
  const blocks: Block[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] ?? '')
    if (open === null) continue
    const end = lines.findIndex((line, k) => k > i && line.startsWith('```'))
    if (end === -1) throw new Error(`${file}:${i + 1}: a code block that never closes`)
    blocks.push({ file, language: open[1] ?? '', line: i + 1, code: lines.slice(i + 1, end).join('\n'), runs: lines[i - 1] === '<!-- run -->' })
    i = end
  }
  return blocks
}

const blocks = documents.flatMap((file) => codeBlocks(file, readFileSync(join(root, file), 'utf8')))
const where = (block: Block, offset = 0) => `${block.file}:${block.line + offset}`
// Inside the package, so `import ... from 'fastify-chatwoot'` resolves as it does in a user's app.
const scratch = join(root, '.scratch', `readme-${process.pid}`)

test('every README and docs block is TypeScript, JavaScript or shell', async (t) => {
  t.ok(blocks.length >= 10, `${blocks.length} blocks`)
  for (const block of blocks) t.ok(['ts', 'js', 'sh'].includes(block.language), `${where(block)} is \`\`\`${block.language}`)
})

/** Type-checks blocks as files of `extension` with `options` over the project's tsconfig; one assertion per block. */
function typeCheck (t: Test, language: string, extension: string, options: ts.CompilerOptions) {
  mkdirSync(scratch, { recursive: true })
  const files = blocks.filter((block) => block.language === language).map((block) => {
    const file = join(scratch, `${block.file.replace(/[/.]/g, '-')}-line-${block.line}${extension}`)
    writeFileSync(file, `${block.code}\n`)
    return { file, block }
  })
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })
  const program = ts.createProgram(files.map(({ file }) => file), { ...config?.options, noEmit: true, rootDir: root, ...options })
  for (const { file, block } of files) {
    const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).filter((diagnostic) => diagnostic.file?.fileName === file)
    const messages = diagnostics.map((diagnostic) => {
      const at = diagnostic.start === undefined ? 0 : diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start).line
      return `${where(block, 1 + at)}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`
    })
    t.same(messages, [], `${where(block)} compiles`)
  }
  return files.length
}

test('README and docs TypeScript blocks type-check against the built package, as ESM', async (t) => {
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  t.ok(typeCheck(t, 'ts', '.mts', {}) >= 5)
})

test('README and docs JavaScript blocks type-check as CommonJS under checkJs', async (t) => {
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  t.ok(typeCheck(t, 'js', '.cjs', { allowJs: true, checkJs: true }) >= 1, 'a CommonJS example')
})

test('README blocks marked to run, run', async (t) => {
  const runnable = blocks.filter((block) => block.runs)
  t.ok(runnable.length >= 1, 'at least one block runs')
  mkdirSync(scratch, { recursive: true })
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  for (const block of runnable) {
    const file = join(scratch, `run-${block.file.replace(/[/.]/g, '-')}-line-${block.line}.mts`)
    writeFileSync(file, `${block.code}\n`)
    const { stderr } = await run(process.execPath, ['--import', 'tsx', file], {
      cwd: root, timeout: 60_000, env: { ...process.env, DATABASE_URL: serverUrl(), REDIS_URL }
    })
    t.equal(stderr, '', `${where(block)} ran without errors`)
  }
})

test('README shell blocks name only scripts and packages this project has', async (t) => {
  const known = new Set([pkg.name, ...Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies })])
  const lines = blocks.filter((block) => block.language === 'sh').flatMap((block) => block.code.split('\n').map((text) => ({ text, line: where(block) })))
  for (const { text, line } of lines) {
    for (const command of text.split('&&').map((part) => part.trim())) {
      const install = /^npm install(?: (.+))?$/.exec(command)
      const script = /^npm (?:run )?(\S+)$/.exec(command)
      if (install !== null) {
        for (const name of (install[1] ?? '').split(/\s+/).filter(Boolean)) t.ok(known.has(name), `${line}: ${name} is this package or one it uses`)
      } else if (script !== null) {
        t.ok(script[1] === 'test' || script[1] === 'start' ? pkg.scripts[script[1]] !== undefined : pkg.scripts[script[1]!] !== undefined,
          `${line}: npm script "${script[1]}" exists`)
      } else {
        t.match(command, /^curl /, `${line}: "${command}" is a command this test runs`)
      }
    }
  }
})

test('README curl commands answer as the README says, against the example gateway', async (t) => {
  const { buildGateway } = await import('../examples/gateway/app.js')
  const database = await createTestDatabase()
  const sim = await createChatwootSimulator({ database: serverUrl() })
  const app = await buildGateway({ databaseUrl: database.url, redisUrl: REDIS_URL, conversations: { keyPrefix: `readme:${process.pid}:` } })
  t.teardown(async () => {
    const keys = await app.redis.keys(`readme:${process.pid}:*`)
    if (keys.length > 0) await app.redis.del(...keys)
    await app.close()
    await sim.close()
    await database.drop()
  })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const account = await sim.createAccount()
  const added = await app.inject({ method: 'POST', url: '/instances', payload: { name: 'demo', chatwootUrl: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token } })
  t.equal(added.statusCode, 201)

  const curls = blocks.filter((block) => block.language === 'sh').flatMap((block) => block.code.split('\n')).filter((line) => line.startsWith('curl '))
  t.equal(curls.length, 7)
  const answers = []
  for (const command of curls) {
    const { stdout } = await run('sh', ['-c', command.replaceAll('http://localhost:3000', address)], { cwd: root })
    answers.push(stdout)
  }
  const [first, invalid, media, health, metrics, queued, dead] = answers as [string, string, string, string, string, string, string]
  t.match(JSON.parse(first), { messageId: 1, conversationId: 1, contactId: 1, cache: 'miss', recovered: false, deduplicated: false })
  t.match(JSON.parse(invalid), { statusCode: 400, field: 'body.contact.identifier' })
  t.match(JSON.parse(media), { conversationId: 1, cache: 'hit' })
  t.match(JSON.parse(health), { status: 'ok' })
  t.match(metrics, /chatwoot_conversation_events_total\{event="deliveries"\} 2/)
  t.same(JSON.parse(queued), { id: 1, sourceId: 'wamid.queued-1', state: 'queued', existing: false })
  t.same(JSON.parse(dead), { entries: [], cursor: null })
  const [row] = await sim.query('SELECT count(*)::int AS n FROM attachments')
  t.equal(row.n, 1, 'the media curl stored its file')
})
