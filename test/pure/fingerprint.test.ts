// fingerprint decides whether settings changed (a pool is rebuilt, a pause ends): a false "same"
// keeps stale settings, a false "changed" churns pools. Pure: no server needed.
import { Readable } from 'node:stream'
import { test } from 'tap'
import { fingerprint } from '../../lib/fingerprint.js'

test('key order does not matter, at any depth', async (t) => {
  t.equal(fingerprint({ a: 1, b: { c: 2, d: [3, { e: 4, f: 5 }] } }),
    fingerprint({ b: { d: [3, { f: 5, e: 4 }], c: 2 }, a: 1 }))
})

test('a changed value, key, array order or type changes the fingerprint', async (t) => {
  const base = fingerprint({ host: 'h', port: 5432, list: [1, 2] })
  t.not(fingerprint({ host: 'h', port: 5433, list: [1, 2] }), base, 'value')
  t.not(fingerprint({ host: 'h', port: '5432', list: [1, 2] }), base, 'number vs string')
  t.not(fingerprint({ host: 'h', porT: 5432, list: [1, 2] }), base, 'key')
  t.not(fingerprint({ host: 'h', port: 5432, list: [2, 1] }), base, 'array order counts')
  t.not(fingerprint({ host: 'h', port: 5432, list: [1, 2], extra: null }), base, 'an added null')
})

test('functions and class instances compare by identity', async (t) => {
  const password = () => 'secret'
  t.equal(fingerprint({ password }), fingerprint({ password }), 'the same callback is the same')
  t.not(fingerprint({ password }), fingerprint({ password: () => 'secret' }), 'a new callback with the same body is a change')
  t.notMatch(fingerprint({ password }), /secret/, 'a function is never called or shown')

  const stream = Readable.from([])
  t.equal(fingerprint({ stream }), fingerprint({ stream }))
  t.not(fingerprint({ stream }), fingerprint({ stream: Readable.from([]) }), 'another instance is a change')
  t.not(fingerprint(new Date(0)), fingerprint(new Date(0)), 'a Date is an instance: identity, not value')
})

test('buffers compare by content; null-prototype objects as plain ones', async (t) => {
  t.equal(fingerprint({ ca: Buffer.from('cert') }), fingerprint({ ca: Buffer.from('cert') }))
  t.not(fingerprint({ ca: Buffer.from('cert') }), fingerprint({ ca: Buffer.from('cerT') }))
  t.not(fingerprint(Buffer.from('x')), fingerprint('x'), 'a buffer is not its text')
  const bare = Object.assign(Object.create(null), { b: 1, a: 2 })
  t.equal(fingerprint(bare), fingerprint({ a: 2, b: 1 }))
})

test('primitives and undefined have a fingerprint', async (t) => {
  t.equal(fingerprint(undefined), 'undefined')
  t.not(fingerprint(null), fingerprint(undefined))
  t.not(fingerprint('1'), fingerprint(1))
  // JSON drops undefined properties: a setting left undefined is the same as one not given.
  t.equal(fingerprint({ a: 1, b: undefined }), fingerprint({ a: 1 }))
})
