// A preflight to run by hand or in CI (`node --import tsx test/setup/services.ts`): exits 1 naming
// each server that does not answer and the variable to fix. The suite itself no longer runs it
// before every test: each test checks the servers it uses (test/setup/servers.ts).
import { checkPostgres, checkRedis } from './servers.js'

Promise.all([checkPostgres(), checkRedis()]).then((results) => {
  const problems = results.filter(Boolean)
  for (const problem of problems) console.error(problem)
  process.exitCode = problems.length > 0 ? 1 : 0
}, (error) => {
  console.error(error)
  process.exitCode = 1
})
