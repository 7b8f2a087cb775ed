import { once } from 'node:events'
import { test } from 'tap'
import { conversationsOptions } from '../lib/conversations/options.js'
import { withRenamedOptions } from '../lib/options.js'

// Pure: no server. The one naming rule for durations (`...Ms`) kept the old names as deprecated aliases.

test('an old duration name still works, with a DeprecationWarning naming the new one; the new name wins', async (t) => {
  const warned = once(process, 'warning')
  const options = withRenamedOptions<{ ttlMs?: number, ttl?: number }>({ ttl: 5 }, { ttl: 'ttlMs' }, 'somePlugin')
  const [warning] = await warned as [Error & { name: string }]
  t.equal(options.ttlMs, 5, 'the old value is read under the new name')
  t.equal(warning.name, 'DeprecationWarning')
  t.match(warning.message, /somePlugin: option "ttl" is deprecated, use "ttlMs"/)
  t.equal(withRenamedOptions<{ ttlMs?: number, ttl?: number }>({ ttl: 5, ttlMs: 7 }, { ttl: 'ttlMs' }, 'p').ttlMs, 7, 'both given: the new one')
  t.same(withRenamedOptions(undefined, { ttl: 'ttlMs' }, 'p'), {}, 'no options: none')
})

test('chatwootConversations reads ttl, localTtl, lockTtl and redisTimeout as their ...Ms names', async (t) => {
  const options = conversationsOptions({ ttl: 11, localTtl: 12, lockTtl: 13, redisTimeout: 14 })
  t.match(options, { ttlMs: 11, localTtlMs: 12, lockTtlMs: 13, redisTimeoutMs: 14 })
  t.throws(() => conversationsOptions({ ttlMs: -1 }), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /"ttlMs" must be a number of milliseconds > 0, got -1/ })
  t.throws(() => conversationsOptions({ lockTtl: 0 }), { message: /"lockTtlMs"/ }, 'an old name is checked under its new name')
})
