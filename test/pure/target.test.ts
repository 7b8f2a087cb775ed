// The parts of lib/postgres/target.ts that test/postgres/target.test.ts leaves out: mentionsSecret
// (the last guard before a message leaves), the order secretsOf answers in, and the forms of
// setting a server can be named by without a URL. Pure: no server needed.
import { test } from 'tap'
import { describeTarget, MASK, mentionsSecret, redactConnectionString, scrubSecrets, secretsOf, UNPARSEABLE } from '../../lib/postgres/target.js'

test('mentionsSecret finds any form of a secret, and nothing else', async (t) => {
  const secrets = secretsOf('postgres://app:p%40ss%2Fword@db:5432/app')
  t.ok(mentionsSecret('auth failed for p@ss/word', secrets), 'decoded')
  t.ok(mentionsSecret('url postgres://app:p%40ss%2Fword@db', secrets), 'as written')
  t.notOk(mentionsSecret('auth failed for user app on db:5432', secrets))
  t.notOk(mentionsSecret('anything', []), 'no secrets: nothing to find')
})

test('secretsOf answers longest first, so a secret holding another is masked whole', async (t) => {
  const secrets = secretsOf({ password: 'abc', sslpassword: 'abcdef' })
  t.same(secrets, ['abcdef', 'abc'])
  t.equal(scrubSecrets('keys abcdef and abc', secrets), `keys ${MASK} and ${MASK}`)
  t.same(secretsOf({ password: 'ab' }), [], 'too short to tell from ordinary words: not scrubbed')
  t.same(secretsOf(42), [], 'not a setting: no secrets')
})

test('keyword and socket forms are read, not refused', async (t) => {
  t.equal(redactConnectionString('host=db user=app password=hunter2 dbname=app'),
    `host=db user=app password=${MASK} dbname=app`)
  t.equal(redactConnectionString('/run/postgresql app'), '/run/postgresql app', 'a socket path carries no password')
  t.equal(redactConnectionString('just some words'), UNPARSEABLE)
  t.equal(describeTarget({ host: '/run/postgresql', port: 5432, database: 'app', user: 'app' }), 'postgres://app@/run/postgresql:5432/app')
})
