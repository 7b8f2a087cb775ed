// `npm run bench` builds dist/ first, so the code users run is measured. Every figure is a
// ratio against a baseline measured side by side in the same run, with its throughput.
// `npm run bench -- --json` prints the same figures as JSON.
import type { Figure, MeasureOptions } from './measure.js'
import * as client from './client.js'
import * as conversations from './conversations.js'
import * as postgres from './postgres.js'
import * as simulator from './simulator.js'

interface Suite {
  title: string
  options?: MeasureOptions
  run (options: MeasureOptions): Promise<Figure[]>
}

const json = process.argv.includes('--json')
const defaults: MeasureOptions = { operations: 3000, concurrency: 5, rounds: 21 }
const suites: Suite[] = [postgres, simulator, client, conversations]

async function main () {
  const report = []
  for (const suite of suites) {
    const options = suite.options ?? defaults
    const figures = await suite.run(options)
    report.push({ title: suite.title, ...options, figures })
    if (!json) {
      console.log(`\n${suite.title}`)
      console.log(`  ${options.operations} operations x ${options.rounds} rounds, concurrency ${options.concurrency}, median of per-round ratios`)
      for (const { name, opsPerSec, ratio, quartiles: [low, high] } of figures) {
        console.log(`  ${name.padEnd(32)} ${String(opsPerSec).padStart(8)} ops/s   ${ratio.toFixed(3)}x` +
          `   (middle half of rounds ${low.toFixed(2)}-${high.toFixed(2)})`)
      }
    }
  }
  if (json) console.log(JSON.stringify(report, null, 2))
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
