// `npm run bench` builds dist/ first, so the code users run is measured. Every figure is a
// ratio against a baseline measured side by side in the same run, with its throughput.
// `npm run bench -- --json` prints the same figures as JSON, and nothing else on stdout.
// `npm run bench -- --only memory,client` runs only the suites named (the names are SUITES' keys).
import { performance } from 'node:perf_hooks'
import type { Figure, MeasureOptions, SuiteResult } from './measure.js'
import * as client from './client.js'
import * as conversations from './conversations.js'
import * as instancePools from './instance-pools.js'
import * as memory from './memory.js'
import * as outbox from './outbox.js'
import * as postgres from './postgres.js'
import * as simulator from './simulator.js'
import * as webhooks from './webhooks.js'

interface Suite {
  title: string
  options?: MeasureOptions
  run (options: MeasureOptions): Promise<Figure[] | SuiteResult>
}

const json = process.argv.includes('--json')
const defaults: MeasureOptions = { operations: 3000, concurrency: 5, rounds: 21 }
const SUITES: Record<string, Suite> = { postgres, 'instance-pools': instancePools, simulator, client, conversations, memory, outbox, webhooks }
const suites = selected(process.argv)

async function main () {
  const began = performance.now()
  const report = []
  for (const suite of suites) {
    const options = suite.options ?? defaults
    const started = performance.now()
    const outcome = await suite.run(options)
    const result = Array.isArray(outcome) ? { figures: outcome } : outcome
    const seconds = elapsed(started)
    report.push({ title: suite.title, ...options, seconds, ...result })
    if (!json) print(suite.title, options, result, seconds)
  }
  const totalSeconds = elapsed(began)
  if (json) console.log(JSON.stringify({ totalSeconds, suites: report }, null, 2))
  else console.log(`\nTotal wall time ${totalSeconds} s`)
}

function print (title: string, options: MeasureOptions, { figures, goals = [], facts = {} }: SuiteResult, seconds: number) {
  console.log(`\n${title}`)
  console.log(`  ${options.operations} operations x ${options.rounds} rounds, concurrency ${options.concurrency}, median of per-round ratios (${seconds} s)`)
  for (const { name, opsPerSec, ratio, quartiles: [low, high] } of figures) {
    console.log(`  ${name.padEnd(32)} ${String(opsPerSec).padStart(8)} ops/s   ${ratio.toFixed(3)}x` +
      `   (middle half of rounds ${low.toFixed(2)}-${high.toFixed(2)})`)
  }
  for (const { name, value, limit, unit, met } of goals) {
    console.log(`  ${name.padEnd(44)} ${String(value).padStart(8)} ${unit}, goal <= ${limit}: ${met ? 'met' : 'NOT MET'}`)
  }
  for (const [name, value] of Object.entries(facts)) console.log(`  ${name.padEnd(44)} ${String(value).padStart(8)}`)
}

function selected (argv: string[]): Suite[] {
  const at = argv.findIndex((arg) => arg === '--only' || arg.startsWith('--only='))
  if (at === -1) return Object.values(SUITES)
  const list = argv[at]!.includes('=') ? argv[at]!.slice('--only='.length) : argv[at + 1] ?? ''
  const names = list.split(',').filter((name) => name !== '')
  // A misspelt name would otherwise run nothing and look like a pass.
  const unknown = names.find((name) => !(name in SUITES))
  if (names.length === 0 || unknown !== undefined) {
    throw new Error(`--only takes suite names separated by commas (${Object.keys(SUITES).join(', ')}), got "${unknown ?? list}"`)
  }
  return names.map((name) => SUITES[name]!)
}

function elapsed (since: number): number {
  return Math.round((performance.now() - since) / 100) / 10
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
