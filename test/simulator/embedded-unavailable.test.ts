import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'tap'

// In a fresh process whose module loader refuses the PGlite packages, as on an install without
// the optional peers: the embedded mode must fail with its code, naming what is missing.
const hooks = `export async function resolve (specifier, context, next) {
  if (specifier.startsWith('@electric-sql/')) {
    throw Object.assign(new Error('Cannot find package ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' })
  }
  return next(specifier, context)
}`
const register = `import { register } from 'node:module'
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}))`

test('without the PGlite packages, the embedded simulator fails with FST_CHATWOOT_SIM_EMBEDDED_UNAVAILABLE', async (t) => {
  const script = `
    const { createChatwootSimulator } = require('./lib/testing/index.ts')
    createChatwootSimulator().then(
      () => console.log(JSON.stringify({ started: true })),
      (error) => console.log(JSON.stringify({ code: error.code, message: error.message })))`
  const output = execFileSync(process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--import', 'tsx', '-e', script],
    { cwd: join(__dirname, '..', '..'), encoding: 'utf8' })
  const result = JSON.parse(output.trim().split('\n').at(-1)!)
  t.equal(result.code, 'FST_CHATWOOT_SIM_EMBEDDED_UNAVAILABLE')
  t.match(result.message, /@electric-sql\/pglite/)
  t.match(result.message, /pass `database`/)
})
