import { join } from 'node:path'
import { test } from 'tap'
import { ensureBuilt, root } from './built.js'
import { exportsOf } from './exports.js'

// cjs/index.d.ts lists the exports by hand (a namespace cannot `export *`): this is what keeps it
// in step with lib/index.ts, and the ESM types with both.
test('require and import types offer every export of lib/index.ts, each as a value or a type alike', async (t) => {
  ensureBuilt()
  const [built, required, imported] = exportsOf([
    join(root, 'dist', 'index.d.ts'), join(root, 'cjs', 'index.d.ts'), join(root, 'esm', 'index.d.mts')
  ]) as [Map<string, string>, Map<string, string>, Map<string, string>]
  t.ok(built.size > 50, `dist/index.d.ts has its exports (${built.size})`)

  const missing = [...built].filter(([name, kind]) => required.get(name) !== kind).map(([name, kind]) => `${name} (${kind})`)
  t.same(missing, [], 'add these to cjs/index.d.ts')
  const extra = [...required.keys()].filter((name) => !built.has(name) && name !== 'fastifyChatwoot')
  t.same(extra, [], 'cjs/index.d.ts names nothing lib/index.ts lacks')
  t.same([...imported].filter(([name, kind]) => built.get(name) !== kind), [], 'esm/index.d.mts matches lib/index.ts')
})
