import { execFileSync } from 'node:child_process'
import { test } from 'tap'
import { ensureBuilt, root } from './packaging/built.js'

// Loads the published entry points the way a user's app does, by package name, in a fresh
// Node process: CommonJS `require` and ESM `import`, for both entries.
function run (args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim()
}

test('the built package loads with require and with import', async (t) => {
  ensureBuilt()
  const expected = {
    'fastify-chatwoot': ['chatwootInstances', 'instancePostgres', 'PgConnectError', 'InstanceNameInvalidError'],
    'fastify-chatwoot/testing': ['createTestDatabase', 'serverUrl', 'createChatwootSimulator']
  }
  for (const [entry, names] of Object.entries(expected)) {
    const required = JSON.parse(run(['-e', `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(entry)}))))`]))
    const imported = JSON.parse(run(['--input-type=module', '-e',
      `const m = await import(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(m)))`]))
    for (const name of names) {
      t.ok(required.includes(name), `require('${entry}').${name}`)
      t.ok(imported.includes(name), `import { ${name} } from '${entry}'`)
    }
  }

  const kinds = run(['--input-type=module', '-e', `
    import { chatwootInstances, PgConnectError } from 'fastify-chatwoot'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('fastify-chatwoot')
    console.log(typeof chatwootInstances, cjs.PgConnectError === PgConnectError)`])
  t.equal(kinds, 'function true', 'import and require give the same objects (no dual-package hazard)')

  const defaults = run(['--input-type=module', '-e', `
    import fastifyChatwoot, { fastifyChatwoot as named } from 'fastify-chatwoot'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('fastify-chatwoot')
    console.log(typeof fastifyChatwoot, fastifyChatwoot === named, cjs === named, cjs.default === named, cjs.fastifyChatwoot === named)`])
  t.equal(defaults, 'function true true true true',
    'the default export is the plugin for import; require answers the plugin itself, with .default and .fastifyChatwoot')
})
