import { test } from 'tap'
import { outboxSettings } from '../../lib/outbox/options.js'

// Pure: no server. An option error names the option and what it got, never a connection string.

test('the defaults', async (t) => {
  t.match(outboxSettings(), {
    schema: 'chatwoot_outbox', worker: true, concurrency: 4, leaseMs: 30_000, maxAgeMs: 86_400_000, probeMs: 300_000, requestsPerMinute: 2400
  })
})

test('a bad option is FST_CHATWOOT_OPTIONS_INVALID naming what it got', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ schema: 'Robert\'); DROP TABLE' }, /option "schema" must be a lowercase SQL identifier, got "Robert'\); DROP TABLE"/],
    [{ concurrency: 0 }, /option "concurrency" must be a positive integer, got 0/],
    [{ leaseMs: -1 }, /option "leaseMs" must be a number of milliseconds > 0, got -1/],
    [{ leaseMs: 6000, clientTimeoutMs: 5000 }, /option "leaseMs" must be at least twice clientTimeoutMs \(5000\), got 6000/],
    [{ backoffMinMs: 10, backoffMaxMs: 5 }, /option "backoffMaxMs" must be >= backoffMinMs \(10\), got 5/],
    [{ worker: 'yes' }, /option "worker" must be a boolean, got a string/],
    [{ contactKey: 'identifier' }, /option "contactKey" must be a function, got a string/],
    [{ pool: {} }, /option "pool" must be a pg.Pool/]
  ]
  for (const [options, message] of cases) {
    t.throws(() => outboxSettings(options as never), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message }, JSON.stringify(options))
  }
  let error: Error | undefined
  try {
    outboxSettings({ connectionString: 'mysql://user:s3cret@host/db' })
  } catch (caught) {
    error = caught as Error
  }
  t.match(error?.message, /option "connectionString" must be a postgres:\/\/ connection string/)
  t.notMatch(error?.message, /s3cret/, 'the connection string (and its password) is not echoed')
})
