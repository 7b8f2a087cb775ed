import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'tap'

// The house's shape, read from the source: no import cycle between lib/'s rooms, and no room too big to
// read at once. Pure: it parses import lines, so it needs no server and runs in milliseconds.

const LIB = resolve(__dirname, '../lib')
const MAX_LINES = 250

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : []
  })
}

/** Relative imports and re-exports of a file (static, side-effect and dynamic), resolved to files under lib/. */
function importsOf (file: string, text = readFileSync(file, 'utf8')): string[] {
  const specifiers = [
    ...text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'/g),
    ...text.matchAll(/^\s*import\s+'(\.{1,2}\/[^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)
  ].map((match) => match[1]!)
  return specifiers.map((specifier) => {
    const target = resolve(dirname(file), specifier).replace(/\.(m?js)$/, '.ts')
    return existsSync(target) && statSync(target).isDirectory() ? join(target, 'index.ts') : target
  })
}

/** The room a file belongs to: its folder under lib/ (`client`), or the top-level file itself (`errors.ts`). */
function roomOf (file: string): string {
  return relative(LIB, file).split('/')[0]!
}

/** Every cycle of the room graph, each as the rooms in order (the first repeated at the end). */
function cyclesOf (edges: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = []
  const seen = new Set<string>()
  const visit = (room: string, path: string[]) => {
    for (const next of edges.get(room) ?? []) {
      const at = path.indexOf(next)
      if (at !== -1) {
        const cycle = [...path.slice(at), next]
        // Each cycle once, whichever room it was entered from.
        const key = [...cycle.slice(0, -1)].sort().join(' ')
        if (!seen.has(key)) {
          seen.add(key)
          cycles.push(cycle)
        }
      } else {
        visit(next, [...path, next])
      }
    }
  }
  for (const room of edges.keys()) visit(room, [room])
  return cycles
}

const files = sourceFiles(LIB)
const edges = new Map<string, Set<string>>()
// One example import per edge, to name in a failure.
const example = new Map<string, string>()
for (const file of files) {
  const from = roomOf(file)
  for (const target of importsOf(file)) {
    const to = roomOf(target)
    if (to === from) continue
    if (!edges.has(from)) edges.set(from, new Set())
    edges.get(from)!.add(to)
    if (!example.has(`${from}>${to}`)) example.set(`${from}>${to}`, `${relative(LIB, file)} imports ${relative(LIB, target)}`)
  }
}

test('the parser finds static, multi-line, type-only, re-exported, side-effect and dynamic imports', async (t) => {
  const file = join(LIB, 'client', 'x.ts')
  const text = [
    "import { a } from '../errors.js'",
    'import {',
    '  b,',
    '  c',
    "} from './call-loop.js'",
    "import type { D } from '../instances/config.js'",
    "export { e } from '../options.js'",
    "import './side-effect.js'",
    "const f = await import('../postgres/plugin.js')",
    "import { Pool } from 'undici'"
  ].join('\n')
  t.same(importsOf(file, text).map((target) => relative(LIB, target)).sort(), [
    'client/call-loop.ts', 'client/side-effect.ts', 'errors.ts', 'instances/config.ts', 'options.ts', 'postgres/plugin.ts'
  ])
  t.same(cyclesOf(new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]])), [['a', 'b', 'c', 'a']])
  t.same(cyclesOf(new Map([['a', new Set(['b'])], ['b', new Set(['c'])]])), [])
})

test('no import cycle between lib/\'s folders and top-level files', async (t) => {
  t.ok(edges.has('client') && edges.has('conversations'), 'the graph was read (client and conversations import other rooms)')
  for (const cycle of cyclesOf(edges)) {
    const steps = cycle.slice(0, -1).map((room, i) => example.get(`${room}>${cycle[i + 1]}`))
    t.fail(`import cycle ${cycle.join(' -> ')}: ${steps.join('; ')}`)
  }
})

test('a top-level file a folder imports is a shared leaf: it imports no folder', async (t) => {
  const folders = new Set(files.map(roomOf).filter((room) => !room.endsWith('.ts')))
  // lib/index.ts, fastify-chatwoot.ts and other facades gather the folders for users; no folder imports them.
  const leaves = new Set([...edges].filter(([from]) => folders.has(from)).flatMap(([, to]) => [...to]).filter((room) => room.endsWith('.ts')))
  t.ok(leaves.has('errors.ts') && leaves.has('options.ts'), 'errors.ts and options.ts are leaves the folders share')
  for (const leaf of leaves) {
    for (const to of edges.get(leaf) ?? []) {
      if (folders.has(to)) t.fail(`${leaf} is shared by folders but imports one: ${example.get(`${leaf}>${to}`)}`)
    }
  }
})

test(`no file under lib/ is over ${MAX_LINES} lines`, async (t) => {
  for (const file of files) {
    const lines = readFileSync(file, 'utf8').split('\n').length - 1
    if (lines > MAX_LINES) t.fail(`${relative(LIB, file)} has ${lines} lines`)
  }
  t.ok(files.length > 50, `${files.length} files read`)
})
