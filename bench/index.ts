// `npm run bench`: every figure is a ratio against a baseline measured in the same run.
// `npm run bench -- --json` prints the same figures as JSON.
import * as postgres from './postgres.js'

const json = process.argv.includes('--json')
const options = { operations: 4000, concurrency: 16, rounds: 5 }

async function main () {
  const suites = [postgres]
  const report = []
  for (const suite of suites) {
    const figures = await suite.run(options)
    report.push({ title: suite.title, ...options, figures })
    if (!json) {
      console.log(`\n${suite.title}`)
      console.log(`  ${options.operations} operations x ${options.rounds} rounds, concurrency ${options.concurrency}, median round`)
      for (const { name, opsPerSec, ratio } of figures) {
        console.log(`  ${name.padEnd(32)} ${String(opsPerSec).padStart(8)} ops/s   ${ratio.toFixed(3)}x`)
      }
    }
  }
  if (json) console.log(JSON.stringify(report, null, 2))
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
