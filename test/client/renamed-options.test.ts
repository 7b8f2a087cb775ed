import { createServer, type Socket } from 'node:net'
import { setImmediate as tick } from 'node:timers/promises'
import Fastify from 'fastify'
import { test } from 'tap'
import { ChatwootClient, chatwootClient, chatwootInstances, validateInstanceConfig } from '../../lib/index.js'
import { retryPolicy } from '../../lib/client/retry-policy.js'

// No Chatwoot: the client's durations renamed under the one rule (`...Ms`) still read their old names,
// with one DeprecationWarning per old name where the options are given, and none further down.

/** The deprecation warnings emitted while `run` runs (they are emitted on the next tick). */
async function deprecations (run: () => unknown): Promise<string[]> {
  const seen: string[] = []
  const listener = (warning: Error) => { if (warning.name === 'DeprecationWarning') seen.push(warning.message) }
  process.on('warning', listener)
  try {
    await run()
    await tick()
    await tick()
  } finally {
    process.off('warning', listener)
  }
  return seen
}

const chatwoot = { url: 'http://127.0.0.1:1', accountId: 1, inboxId: 1, token: 'secret-token-renamed' }

test('ChatwootClient reads timeout, retry.minTimeout and retry.maxTimeout as timeoutMs, minDelayMs and maxDelayMs', async (t) => {
  // A server that accepts and never answers: only the client's deadline ends the attempt.
  const sockets: Socket[] = []
  const server = createServer((socket) => { sockets.push(socket) }).listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(() => { for (const socket of sockets) socket.destroy(); server.close() })
  let client: ChatwootClient | undefined
  const warned = await deprecations(() => {
    client = new ChatwootClient({
      url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, accountId: 1, token: 'x', timeout: 50, retry: { maxRetries: 0, minTimeout: 1, maxTimeout: 2 }
    })
  })
  t.teardown(() => client?.close())
  t.same(warned.sort(), [
    'ChatwootClient retry: option "maxTimeout" is deprecated, use "maxDelayMs" (milliseconds, like every duration)',
    'ChatwootClient retry: option "minTimeout" is deprecated, use "minDelayMs" (milliseconds, like every duration)',
    'ChatwootClient: option "timeout" is deprecated, use "timeoutMs" (milliseconds, like every duration)'
  ])
  const started = Date.now()
  await t.rejects(client!.listInboxes(), { code: 'FST_CHATWOOT_TIMEOUT' })
  t.ok(Date.now() - started < 1000, 'the old timeout (50 ms) is in effect, not the default 5000')
  t.throws(() => new ChatwootClient({ url: chatwoot.url, accountId: 1, token: 'x', timeoutMs: 0 }), { message: /"timeoutMs" must be a number of milliseconds > 0, got 0/ })
})

test('retryPolicy: the new names, the old ones read silently (warned where given), the new winning over the old', async (t) => {
  t.same(retryPolicy(), { maxRetries: 3, minDelayMs: 250, maxDelayMs: 5000, timeoutFactor: 2, jitter: true })
  t.same(retryPolicy({ minTimeout: 10, maxTimeout: 20 }), { maxRetries: 3, minDelayMs: 10, maxDelayMs: 20, timeoutFactor: 2, jitter: true })
  t.match(retryPolicy({ minTimeout: 10, minDelayMs: 30 }), { minDelayMs: 30 })
  t.throws(() => retryPolicy({ minDelayMs: 50, maxDelayMs: 10 }), { message: /"retry\.maxDelayMs" must be a number >= minDelayMs, got 10/ })
})

test('an instance config\'s client.timeout and retry names are resolved under the new names, warned of naming the instance', async (t) => {
  let resolved: ReturnType<typeof validateInstanceConfig> | undefined
  const warned = await deprecations(() => {
    resolved = validateInstanceConfig('acme', { chatwoot, client: { timeout: 100, retry: { minTimeout: 1 } } })
  })
  t.same({ ...resolved!.client }, { timeoutMs: 100, retry: { minDelayMs: 1 } }, 'no old name is kept')
  t.ok(Object.isFrozen(resolved!.client!.retry))
  t.same(warned.sort(), [
    'instance "acme" client.retry: option "minTimeout" is deprecated, use "minDelayMs" (milliseconds, like every duration)',
    'instance "acme" client: option "timeout" is deprecated, use "timeoutMs" (milliseconds, like every duration)'
  ])
  t.throws(() => validateInstanceConfig('acme', { chatwoot, client: { timeoutMs: -1 } }), { message: /client\.timeoutMs/ })
  // Inside a count of its own, so its warning does not reach the next test's.
  await deprecations(() => t.throws(() => validateInstanceConfig('acme', { chatwoot, client: { timeout: -1 } }), { message: /client\.timeoutMs/ },
    'an old name is checked under its new one'))
})

test('chatwootClient warns once per old name at registration, and not again for each client it builds', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const warned = await deprecations(async () => {
    await app.register(chatwootInstances, { resolve: (name: string) => (name === 'acme' || name === 'beta' ? { chatwoot } : undefined) })
    await app.register(chatwootClient, { timeout: 100, retry: { minTimeout: 1, maxTimeout: 5 } })
    await app.ready()
    await app.chatwoot.client('acme')
    await app.chatwoot.client('beta')
  })
  t.same(warned.sort(), [
    'chatwootClient retry: option "maxTimeout" is deprecated, use "maxDelayMs" (milliseconds, like every duration)',
    'chatwootClient retry: option "minTimeout" is deprecated, use "minDelayMs" (milliseconds, like every duration)',
    'chatwootClient: option "timeout" is deprecated, use "timeoutMs" (milliseconds, like every duration)'
  ])
  t.notOk(warned.some((message) => message.includes('secret-token-renamed')), 'no token in a warning')
})
