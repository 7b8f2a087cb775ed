import { inspect } from 'node:util'
import Fastify from 'fastify'
import { type Test, test } from 'tap'
import { chatwootInstances, type InstanceConfig } from '../lib/index.js'
import { appWithLogs } from './helpers/app.js'
import { gateway } from './helpers/gateway.js'

const TOKEN = 'tok-SECRET-1234567890'

function config (overrides: Partial<InstanceConfig['chatwoot']> = {}, database?: string): InstanceConfig {
  return {
    chatwoot: { url: 'https://chat.example.com/', accountId: 1, inboxId: 2, token: TOKEN, ...overrides },
    ...(database === undefined ? {} : { database })
  }
}

async function build (t: Test, resolve: (name: string) => unknown, ttl?: number) {
  const { app } = await gateway(t, {
    resolve, ...(ttl === undefined ? {} : { instancesTtlMs: ttl }), redis: false, client: false, conversations: false
  })
  return app
}

test('get validates and normalises the resolved config', async (t) => {
  const app = await build(t, () => config({ accountId: '7', inboxId: 3 }))
  const instance = await app.chatwootInstances.get('acme')
  t.same(
    { ...instance.chatwoot },
    { url: 'https://chat.example.com', accountId: 7, inboxId: 3, token: TOKEN },
    'trailing slash removed, digit strings become integers'
  )
  t.equal(instance.name, 'acme')
  t.ok(Object.isFrozen(instance) && Object.isFrozen(instance.chatwoot), 'frozen, so no caller can alter the shared copy')
  t.notMatch(JSON.stringify(instance), TOKEN, 'JSON of the config hides the token')
  t.notMatch(inspect(instance), TOKEN, 'util.inspect (and so console.log) hides the token')
})

test('concurrent callers share one resolve, and the answer is cached for ttl', async (t) => {
  let calls = 0
  const app = await build(t, async () => {
    calls++
    await new Promise((resolve) => setTimeout(resolve, 20))
    return config()
  }, 200)
  const answers = await Promise.all(Array.from({ length: 100 }, () => app.chatwootInstances.get('acme')))
  t.equal(calls, 1, '100 concurrent first gets, one resolve')
  t.ok(answers.every((answer) => answer === answers[0]), 'every caller got the same object')
  await app.chatwootInstances.get('acme')
  t.equal(calls, 1, 'cached within ttl')
  await new Promise((resolve) => setTimeout(resolve, 250))
  await app.chatwootInstances.get('acme')
  t.equal(calls, 2, 'resolved again after ttl')
})

test('a failure is never cached', async (t) => {
  let calls = 0
  const app = await build(t, async () => {
    calls++
    if (calls === 1) throw new Error('store down')
    return calls === 2 ? undefined : config()
  })
  await t.rejects(app.chatwootInstances.get('acme'), { message: 'store down' })
  await t.rejects(app.chatwootInstances.get('acme'), { code: 'FST_CHATWOOT_INSTANCE_NOT_FOUND', statusCode: 404 })
  t.equal((await app.chatwootInstances.get('acme')).chatwoot.accountId, 1, 'third call resolves afresh and succeeds')
  t.equal(calls, 3)
})

test('bad names are refused before resolve is called', async (t) => {
  let calls = 0
  const app = await build(t, () => { calls++; return config() })
  const bad: unknown[] = ['', 'a:*', '{x}', 'a b', ' acme', '-lead', '.hidden', 'x'.repeat(65), 'x'.repeat(10_240),
    'ação', 'a\nb', 42, null, undefined, {}, ['acme']]
  for (const name of bad) {
    const error = await app.chatwootInstances.get(name as string).catch((e: unknown) => e) as Error & { code?: string }
    t.equal(error.code, 'FST_CHATWOOT_INSTANCE_NAME_INVALID', `refused: ${inspect(name).slice(0, 30)}`)
    t.ok(error.message.length < 200, 'message stays short even for a 10 kB name')
  }
  t.throws(() => app.chatwootInstances.invalidate('a:*'), { code: 'FST_CHATWOOT_INSTANCE_NAME_INVALID' })
  t.equal(calls, 0, 'resolve never saw a bad name')
  const good = ['a', 'A9', 'acme_prod-2.eu', 'x'.repeat(64)]
  for (const name of good) {
    const instance = await app.chatwootInstances.get(name)
    t.equal(instance.chatwoot.url, 'https://chat.example.com', `accepted and resolved: ${name.slice(0, 10)}`)
  }
  t.equal(calls, good.length, 'resolve was asked once for each good name')
})

test('an invalid config names the field and never the token', async (t) => {
  const cases: Array<[unknown, string]> = [
    ['a string', 'config'],
    [{ chatwoot: 'x' }, 'chatwoot'],
    [config({ url: 'not a url' }), 'chatwoot.url'],
    [config({ url: 'ftp://chat.example.com' }), 'chatwoot.url'],
    [config({ url: `https://user:${TOKEN}@chat.example.com` }), 'chatwoot.url'],
    [config({ accountId: 1.5 }), 'chatwoot.accountId'],
    [config({ accountId: '12abc' }), 'chatwoot.accountId'],
    [config({ accountId: 0 }), 'chatwoot.accountId'],
    [config({ inboxId: -3 }), 'chatwoot.inboxId'],
    [config({ inboxId: undefined as never }), 'chatwoot.inboxId'],
    [config({ token: '' }), 'chatwoot.token'],
    [config({ token: '   ' }), 'chatwoot.token'],
    [config({ token: `${TOKEN}\r\nX-Evil: 1` }), 'chatwoot.token'],
    [config({ token: 42 as never }), 'chatwoot.token'],
    [{ ...config(), database: 42 }, 'database'],
    [{ ...config(), database: '' }, 'database']
  ]
  let current: unknown
  const app = await build(t, () => current)
  for (const [value, field] of cases) {
    current = value
    const error = await app.chatwootInstances.get('acme').catch((e: unknown) => e) as Error & { code?: string, field?: string }
    t.equal(error.code, 'FST_CHATWOOT_INSTANCE_CONFIG_INVALID', `${field} refused`)
    t.equal(error.field, field)
    t.match(error.message, `"acme": ${field} `, 'message names the instance and the field')
    t.notMatch(error.message, TOKEN, 'message never holds the token')
  }
})

test('invalidate forgets a name, and listeners hear of changes', async (t) => {
  let token = TOKEN
  let calls = 0
  const app = await build(t, () => { calls++; return config({ token }) }, 50)
  const heard: string[] = []
  const stop = app.chatwootInstances.onChange((name) => heard.push(name))

  await app.chatwootInstances.get('acme')
  app.chatwootInstances.invalidate('acme')
  t.same(heard, ['acme'], 'invalidate is heard')
  await app.chatwootInstances.get('acme')
  t.equal(calls, 2, 'the next get resolves again')

  await new Promise((resolve) => setTimeout(resolve, 60))
  await app.chatwootInstances.get('acme')
  t.same(heard, ['acme'], 'a re-resolve with the same settings is not a change')

  token = 'rotated-token'
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.equal((await app.chatwootInstances.get('acme')).chatwoot.token, 'rotated-token')
  t.same(heard, ['acme', 'acme'], 'a rotated token is a change')

  stop()
  app.chatwootInstances.invalidate('acme')
  t.equal(heard.length, 2, 'an unsubscribed listener hears nothing')
})

test('a resolve that was running when invalidate came does not cache what it read', async (t) => {
  let release!: () => void
  let version = 1
  const app = await build(t, async () => {
    const seen = version
    if (seen === 1) await new Promise<void>((resolve) => { release = resolve })
    return config({ accountId: seen })
  })
  const first = app.chatwootInstances.get('acme')
  await new Promise((resolve) => setImmediate(resolve))
  version = 2
  app.chatwootInstances.invalidate('acme')
  const second = app.chatwootInstances.get('acme')
  release()
  t.equal((await first).chatwoot.accountId, 1, 'the early caller gets what it asked for')
  t.equal((await second).chatwoot.accountId, 2, 'a caller after invalidate does not join the old resolve')
  t.equal((await app.chatwootInstances.get('acme')).chatwoot.accountId, 2, 'the stale read was not cached')
})

test('options are checked at registration', async (t) => {
  for (const options of [{}, { resolve: 'x' }, { resolve: () => undefined, ttlMs: -1 }, { resolve: () => undefined, ttlMs: Number.NaN }, { resolve: () => undefined, ttl: -1 }]) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(chatwootInstances, options as never).ready() }, { code: 'FST_CHATWOOT_OPTIONS_INVALID' })
    await app.close()
  }
})

test('a resolved config logged through fastify.log does not carry the token', async (t) => {
  const { app, logs } = appWithLogs()
  await app.register(chatwootInstances, { resolve: () => config() })
  await app.ready()
  t.teardown(() => app.close())
  const instance = await app.chatwootInstances.get('acme')
  app.log.info({ instance }, 'resolved an instance')
  const line = await logs.waitFor(/resolved an instance/)
  t.match(line, '"accountId":1', 'the settings are logged')
  t.match(line, '[redacted]')
  t.notMatch(line, TOKEN)
})
