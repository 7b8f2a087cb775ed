// Secrets never printed (issue 11, point 4): an instance's database password, in any shape a
// host may store it (parseable by `new URL` or not), appears in no error message, no JSON or
// inspect of an error, no log line and no JSON or inspect of the resolved config.
import { inspect } from 'node:util'
import { type Test, test } from 'tap'
import { chatwootInstances, instancePostgres, validateInstanceConfig } from '../lib/index.js'
import { createTestDatabase } from '../lib/testing/index.js'
import { appWithLogs } from './helpers/app.js'
import { SECRET_SHAPES, type SecretShape } from './postgres/secret-shapes.js'

const chatwoot = { url: 'http://127.0.0.1:1', accountId: 1, inboxId: 1, token: 'token-not-under-test' }

function assertHidden (t: Test, shape: SecretShape, where: string, text: string): void {
  for (const secret of [...shape.secrets, ...(shape.fragments ?? [])]) {
    t.notOk(text.includes(secret), `${shape.name}: no ${JSON.stringify(secret)} in ${where}`)
  }
}

test('a database that cannot be reached fails with a coded error and logs that hide its password', async (t) => {
  for (const shape of SECRET_SHAPES) {
    const { app, logs } = appWithLogs()
    await app.register(chatwootInstances, { resolve: () => ({ chatwoot, database: shape.database }) })
    // Short timeouts: every shape points at nothing that answers, or at a server that refuses it.
    await app.register(instancePostgres, { pool: { connectionTimeoutMillis: 2000 } })
    await app.ready()

    const error = await app.instancePg.query('acme', 'select 1').then(() => undefined, (e: unknown) => e as Error & Record<string, unknown>)
    t.equal(error?.code, 'FST_CHATWOOT_PG_CONNECT', `${shape.name}: coded (${error?.message})`)
    for (const [where, text] of [
      ['the message', String(error?.message)],
      ['the stack', String(error?.stack)],
      ['JSON.stringify(error)', JSON.stringify(error)],
      ['util.inspect(error)', inspect(error, { depth: 10 })],
      ['pools()', JSON.stringify(app.instancePg.pools())]
    ] as const) assertHidden(t, shape, where, text)

    // As a host app logs them: the failure, and what the instance resolved to.
    app.log.error({ err: error }, 'request failed')
    app.log.info({ instance: await app.chatwootInstances.get('acme') }, 'resolved an instance')
    await logs.waitFor(/resolved an instance/)
    await app.close()
    t.ok(logs.lines.some((line) => line.includes('FST_CHATWOOT_PG_CONNECT')), `${shape.name}: the failure was logged`)
    assertHidden(t, shape, 'the log lines', logs.lines.join(''))
  }
})

test('a resolved config shows its database without the password, in JSON and inspect', async (t) => {
  for (const shape of SECRET_SHAPES) {
    const resolved = validateInstanceConfig('acme', { chatwoot, database: shape.database })
    t.same(resolved.database, shape.database, `${shape.name}: the setting itself is kept as given`)
    const json = JSON.stringify(resolved)
    assertHidden(t, shape, 'JSON.stringify(config)', json)
    assertHidden(t, shape, 'util.inspect(config)', inspect(resolved, { depth: 10 }))
    assertHidden(t, shape, 'a wrapping object\'s inspect', inspect({ config: resolved }, { depth: 10 }))
    t.notMatch(json, chatwoot.token, `${shape.name}: and the token stays hidden`)
    const shown = typeof shape.database !== 'string'
      ? ('password' in shape.database ? { host: '127.0.0.1', password: '[redacted]' } : { connectionString: /:\*\*\*@127\.0\.0\.1/ })
      : shape.readable ? /127\.0\.0\.1|::1/ : /\[unparseable\]$/
    t.match(JSON.parse(json), { name: 'acme', chatwoot: { url: chatwoot.url }, database: shown }, `${shape.name}: all but the password is shown`)
  }
})

test('a test database on an unreadable or unreachable server names it masked', async (t) => {
  for (const server of ['postgres://fcw:pa#ss-Raven@127.0.0.1:5432/postgres', 'postgres://fcw:pa@ss-Raven@127.0.0.1:1/postgres']) {
    const error = await createTestDatabase({ server, connectTimeoutMs: 1000 }).then(() => undefined, (e: unknown) => e as Error)
    t.ok(error instanceof Error, `refused: ${error?.message}`)
    for (const text of [String(error?.message), inspect(error, { depth: 10 }), JSON.stringify(error)]) {
      t.notMatch(text, 'ss-Raven', 'no password')
    }
  }
})

test('a server that is reached shows the target masked in its debug log line', async (t) => {
  const { app, logs } = appWithLogs()
  const password = 'Sable-unused-by-trust-auth'
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  url.password = password
  await app.register(instancePostgres, { resolve: () => url.toString() })
  await app.ready()
  t.teardown(() => app.close())
  await app.instancePg.query('acme', 'select 1')
  const line = await logs.waitFor(/created a Postgres pool/)
  t.match(line, ':***@', 'the target is shown masked')
  t.notMatch(logs.lines.join(''), password)
})
