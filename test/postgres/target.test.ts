// Masking of database settings (issue 11, "secrets never printed"): what a connection string or
// a PoolConfig shows in messages and logs. Pure: no server needed.
import { inspect } from 'node:util'
import { test } from 'tap'
import { connectError } from '../../lib/postgres/connect-error.js'
import {
  describeTarget, MASK, redactConnectionString, redactDatabase, scrubSecrets, secretsOf, UNPARSEABLE
} from '../../lib/postgres/target.js'
import { SECRET_SHAPES } from './secret-shapes.js'

const configOf = (database: string | object) => (typeof database === 'string' ? { connectionString: database } : database)

test('no shape of setting, readable or not, shows its password', async (t) => {
  for (const { name, database, secrets, readable } of SECRET_SHAPES) {
    const shown = describeTarget(configOf(database))
    for (const secret of secrets) t.notOk(shown.includes(secret), `${name}: ${JSON.stringify(shown)} hides ${secret}`)
    if (readable) t.match(shown, /127\.0\.0\.1|\[::1\]/, `${name}: the host is still shown`)
    else t.ok(shown.endsWith(UNPARSEABLE), `${name}: only the scheme is shown (${shown})`)
    const raw = typeof database === 'string' ? database : database.connectionString
    if (raw !== undefined) t.not(shown, raw.trim(), `${name}: never the raw string`)
  }
})

test('a readable string keeps everything but its password', async (t) => {
  const cases: Array<[string, string]> = [
    ['postgres://u:pa#ss@h:5432/db', `postgres://u:${MASK}@h:5432/db`],
    ['postgres://u:pa/s?s@h/db?sslmode=require', `postgres://u:${MASK}@h/db?sslmode=require`],
    ['postgres://u:secret@h:99999/db', `postgres://u:${MASK}@h:99999/db`],
    ['postgresql://:secret@host', `postgresql://:${MASK}@host`],
    ['postgres://u@h/db?password=secret&application_name=x', `postgres://u@h/db?password=${MASK}&application_name=x`],
    ['postgres://u@h/db?sslpassword=a#b&pass%77ord=c', `postgres://u@h/db?sslpassword=${MASK}&pass%77ord=${MASK}`],
    ['postgres://u:secret@[::1]:5432/db', `postgres://u:${MASK}@[::1]:5432/db`],
    ['postgres://h1:5432,h2:5433/db', 'postgres://h1:5432,h2:5433/db'],
    ['postgres://u@h/db', 'postgres://u@h/db'],
    ["host=h user=u password='it\\'s secret' dbname=d", `host=h user=u password=${MASK} dbname=d`],
    ['/run/postgresql mydb', '/run/postgresql mydb']
  ]
  for (const [input, expected] of cases) t.equal(redactConnectionString(input), expected, input)
})

test('what cannot be read shows only its scheme, or nothing', async (t) => {
  t.equal(redactConnectionString('postgres://u:secret'), `postgres://${UNPARSEABLE}`)
  t.equal(redactConnectionString('postgres://u:sec ret'), `postgres://${UNPARSEABLE}`)
  t.equal(redactConnectionString('u:secret@h/db'), UNPARSEABLE)
  t.equal(redactConnectionString('password=a b'), UNPARSEABLE, 'a keyword list with stray words is not guessed at')
  t.equal(redactConnectionString("password='unclosed secret"), `password=${MASK}`, 'an unclosed quote runs to the end')
  t.equal(redactConnectionString(''), UNPARSEABLE)
})

test('a PoolConfig is shown without its password, TLS key or passphrase, and is not changed', async (t) => {
  const config = {
    host: 'h',
    user: 'u',
    password: () => 'from-a-vault',
    connectionString: 'postgres://u:pa#ss@h/db',
    ssl: { ca: 'public', key: 'private-key', passphrase: 'phrase' },
    max: 3
  }
  const shown = redactDatabase(config, '[redacted]')
  t.same(shown, {
    host: 'h',
    user: 'u',
    password: '[redacted]',
    connectionString: `postgres://u:${MASK}@h/db`,
    ssl: { ca: 'public', key: '[redacted]', passphrase: '[redacted]' },
    max: 3
  })
  t.equal(config.ssl.key, 'private-key', 'the settings themselves are untouched')
  t.equal(redactDatabase('postgres://u:pa#ss@h/db'), `postgres://u:${MASK}@h/db`)
  t.equal(describeTarget({ host: 'h', port: 6432, user: 'u', password: 'secret', database: 'd' }), 'postgres://u@h:6432/d')
})

test('secretsOf finds each password as written and decoded; scrubSecrets removes them', async (t) => {
  for (const { name, database, secrets } of SECRET_SHAPES) {
    const found = secretsOf(configOf(database))
    const text = `failed: ${secrets.join(' and ')} (${typeof database === 'string' ? database : JSON.stringify(database)})`
    const scrubbed = scrubSecrets(text, found)
    for (const secret of secrets) t.notOk(scrubbed.includes(secret), `${name}: ${secret} scrubbed from ${scrubbed}`)
  }
  t.same(secretsOf('postgres://u@h/db'), [], 'nothing secret, nothing scrubbed')
  t.same(secretsOf({ host: 'h', password: 'ab' }), [], 'a secret too short to tell from words is left')
  t.same(secretsOf('postgres://u:se%2Fcret@h/db'), ['se%2Fcret', 'se/cret'], 'longest first')
})

test('a connect error keeps the password out of its message, JSON, inspect and cause', async (t) => {
  const setting = 'postgres://fcw:pa#ss-Quartz@127.0.0.1:5432/db'
  const parseFailure = Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL', input: setting })
  const echoing = Object.assign(new Error('database "ss-Quartz@127.0.0.1" refused pa#ss-Quartz'), { code: '3D000' })
  for (const cause of [parseFailure, echoing, 'a string thrown: pa#ss-Quartz', undefined]) {
    const error = connectError('acme', describeTarget({ connectionString: setting }), secretsOf(setting), cause)
    for (const text of [error.message, String(error.stack), JSON.stringify(error), inspect(error, { depth: 5 })]) {
      t.notMatch(text, 'pa#ss-Quartz', `no password in ${text.slice(0, 60)}...`)
    }
    t.match(error, { code: 'FST_CHATWOOT_PG_CONNECT', instance: 'acme', target: `postgres://fcw:${MASK}@127.0.0.1:5432/db` })
  }
  const unreadable = connectError('acme', UNPARSEABLE, secretsOf('fcw:Elder-pw@h/db'),
    Object.assign(new Error('database "lder-pw@h/db" does not exist'), { code: '3D000' }))
  t.notMatch(unreadable.message, 'lder-pw', 'a setting that cannot be read keeps no part of the driver\'s message')
  t.match(unreadable, { sqlState: '3D000', cause: undefined })
})
