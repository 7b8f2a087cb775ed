import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'tap'
import { createChatwootSimulator, serverUrl } from '../../lib/testing/index.js'
import { RateLimits } from '../../lib/testing/simulator/rate-limits.js'
import { chatwootApi, simulatedAccount } from '../helpers/simulator.js'

// The windows are the clock's minutes: start clear of a boundary, so a few requests share one window.
async function awayFromMinuteBoundary (): Promise<void> {
  const intoMinute = Date.now() % 60_000
  if (intoMinute > 55_000) await sleep(60_000 - intoMinute + 100)
}

test('requestsPerMinute: past the limit a client gets 429 text/plain "Retry later\\n" without Retry-After', async (t) => {
  await awayFromMinuteBoundary()
  const { call } = await simulatedAccount(t, { rateLimits: { requestsPerMinute: 3 } })
  for (let index = 1; index <= 3; index++) t.equal((await call('GET', '/inboxes')).status, 200, `request ${index}`)
  const limited = await call('GET', '/inboxes')
  t.equal(limited.status, 429)
  t.equal(limited.text, 'Retry later\n')
  t.match(limited.headers['content-type'], /^text\/plain/)
  t.equal(limited.headers['retry-after'], undefined, 'no Retry-After, as rack-attack sends none')
  t.equal((await call('POST', '/contacts', { body: { name: 'refused' } })).status, 429, 'every endpoint shares the limit')
  t.equal((await call('GET', '/inboxes', { token: null })).status, 429, 'counted before authentication')
})

test('searchesPerMinute counts /contacts/search per account; other calls and accounts are not limited', async (t) => {
  await awayFromMinuteBoundary()
  const { sim, call } = await simulatedAccount(t, { rateLimits: { searchesPerMinute: 2 } })
  const other = chatwootApi(sim, await sim.createAccount())
  t.equal((await call('GET', '/contacts/search?q=a')).status, 200)
  t.equal((await call('GET', '/contacts/search?q=b&page=2')).status, 200)
  const limited = await call('GET', '/contacts/search?q=c')
  t.equal(limited.status, 429)
  t.equal(limited.text, 'Retry later\n')
  t.equal((await call('GET', '/inboxes')).status, 200, 'other endpoints still answer')
  t.equal((await other('GET', '/contacts/search?q=a')).status, 200, 'another account has its own count')
})

test('rate limits are off by default', async (t) => {
  const { call } = await simulatedAccount(t)
  const statuses = await Promise.all(Array.from({ length: 40 }, () => call('GET', '/contacts/search?q=x')))
  t.same(new Set(statuses.map((answer) => answer.status)), new Set([200]))
})

test('RateLimits: fixed windows on the clock minute, throttled requests count too, the ip throttle stops the search count', async (t) => {
  const limits = new RateLimits({ requestsPerMinute: 2, searchesPerMinute: 1 })
  const minute = 60_000 * 1000
  t.equal(limits.throttled('10.0.0.1', '/api/v1/accounts/1/inboxes', minute + 1), false)
  t.equal(limits.throttled('10.0.0.1', '/api/v1/accounts/1/inboxes', minute + 2), false)
  t.equal(limits.throttled('10.0.0.1', '/api/v1/accounts/1/inboxes', minute + 3), true)
  t.equal(limits.throttled('10.0.0.2', '/api/v1/accounts/1/contacts/search', minute + 4), false, 'another address, first search')
  t.equal(limits.throttled('10.0.0.3', '/api/v1/accounts/1/contacts/search', minute + 5), true, 'the account searched already')
  t.equal(limits.throttled('10.0.0.1', '/api/v1/accounts/1/inboxes', minute + 59_999), true, 'same window')
  t.equal(limits.throttled('10.0.0.1', '/api/v1/accounts/1/inboxes', minute + 60_000), false, 'the next minute starts afresh')
  t.equal(limits.throttled('10.0.0.1', '/api/v1/accounts/2/contacts/search', minute + 60_001), false)
  t.equal(limits.throttled('10.0.0.1', '/api/v1/accounts/2/contacts/search', minute + 60_002), true, 'the ip throttle refuses first')
  t.equal(limits.throttled('10.0.0.4', '/api/v1/accounts/2/contacts/search', minute + 60_003), true,
    'the search throttle counted the first one only')
  t.notOk(new RateLimits(undefined).enabled)
  t.notOk(new RateLimits({}).enabled)
})

test('rateLimits options are checked', async (t) => {
  for (const rateLimits of [{ requestsPerMinute: 0 }, { searchesPerMinute: 1.5 }, { requestsPerMinute: '100' }]) {
    await t.rejects(createChatwootSimulator({ database: serverUrl(), rateLimits: rateLimits as never }),
      { code: 'FST_CHATWOOT_SIM_OPTIONS_INVALID', message: /rateLimits\.\w+.*expected a positive integer, got/ })
  }
})
