import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { test } from 'tap'
import { fromStatus, fromTransport, inputInvalid } from '../lib/client/classify.js'
import {
  CHATWOOT_ERROR_CODES, ChatwootError, errorCodes, InstanceConfigInvalidError, OptionsInvalidError, PgConnectError
} from '../lib/errors.js'
import { validateInstanceConfig } from '../lib/instances/config.js'

// One vocabulary: every code lib/ uses is listed in errorCodes, with what carries it. Pure: no server.

const LIB = resolve(__dirname, '../lib')

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith('.ts') ? [path] : []
  })
}

/** Every FST_CHATWOOT_* code written in a file, with where it was seen. */
function codesIn (files: string[]): Map<string, string> {
  const codes = new Map<string, string>()
  for (const file of files) {
    for (const [code] of readFileSync(file, 'utf8').matchAll(/FST_CHATWOOT_[A-Z0-9_]*[A-Z0-9]/g)) {
      if (!codes.has(code)) codes.set(code, relative(LIB, file))
    }
  }
  return codes
}

// lib/testing is a separate entry point (fastify-chatwoot/testing) with its own simulator errors.
const library = sourceFiles(LIB).filter((file) => !relative(LIB, file).startsWith('testing/'))
const testing = sourceFiles(join(LIB, 'testing'))

test('every FST_CHATWOOT_* code used in lib/ is listed in errorCodes', async (t) => {
  const used = codesIn(library)
  t.ok(used.size >= 20, `${used.size} codes found in lib/`)
  for (const [code, file] of used) t.ok(code in errorCodes, `${code} (seen in ${file}) is in errorCodes`)
})

test('every code in errorCodes is carried by what it maps to', async (t) => {
  for (const [code, Carrier] of Object.entries(errorCodes)) {
    if (Carrier === ChatwootError) {
      t.ok((CHATWOOT_ERROR_CODES as readonly string[]).includes(code), `${code} is a ChatwootError code`)
      continue
    }
    const error = new (Carrier as new (...args: string[]) => Error & { code: string, statusCode: number })('a', 'b', 'c')
    t.equal(error.code, code, `${code} is what its constructor makes`)
    t.ok(error instanceof Carrier, `${code}: instanceof works`)
    t.ok(error.statusCode >= 400 && error.statusCode < 600, `${code} has an HTTP status (${error.statusCode})`)
  }
  for (const code of CHATWOOT_ERROR_CODES) t.equal(errorCodes[code], ChatwootError, `${code} maps to ChatwootError`)
})

test('the simulator\'s codes (lib/testing) do not reuse a code of the library', async (t) => {
  const own = codesIn(testing)
  for (const code of own.keys()) t.notOk(code in errorCodes && !code.startsWith('FST_CHATWOOT_SIM_'), `${code} is the simulator's own`)
  for (const code of own.keys()) t.ok(code.startsWith('FST_CHATWOOT_SIM_') || code in errorCodes, `${code} is a simulator code or a listed one`)
})

test('every failure the classifier makes has a listed code', async (t) => {
  const call = { operation: 'createMessage', method: 'POST', path: '/api/v1/accounts/1/conversations/2/messages' }
  const made = [
    ...[400, 401, 403, 404, 409, 422, 429, 500, 502, 503].map((status) => fromStatus(call, status, { error: 'x' })),
    fromStatus(call, 422, { message: 'Validation failed: Too many messages' }),
    fromTransport(call, Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
    fromTransport(call, new Error('late'), true),
    inputInvalid(call, 'content must be a string')
  ]
  const codes = new Set(made.map((error) => error.code))
  t.same([...codes].sort(), [...CHATWOOT_ERROR_CODES].sort(), 'the classifier makes exactly the listed ChatwootError codes')
  for (const error of made) t.ok(error instanceof ChatwootError && error.code in errorCodes, error.code)
})

test('extra fields are typed members of subclasses, not assigned afterwards', async (t) => {
  const config = new InstanceConfigInvalidError('acme', 'chatwoot.url', 'must be a URL')
  t.match(config, { code: 'FST_CHATWOOT_INSTANCE_CONFIG_INVALID', statusCode: 500, instance: 'acme', field: 'chatwoot.url' })
  t.equal(config.message, 'Invalid configuration for instance "acme": chatwoot.url must be a URL')
  t.ok(config instanceof InstanceConfigInvalidError && config instanceof Error)

  const thrown = (() => {
    try {
      validateInstanceConfig('acme', { chatwoot: { url: 'ftp://x', accountId: 1, inboxId: 1, token: 't' } })
    } catch (error) {
      return error
    }
  })()
  t.ok(thrown instanceof InstanceConfigInvalidError, 'validateInstanceConfig throws the subclass')
  t.match(thrown, { instance: 'acme', field: 'chatwoot.url' })

  const cause = new Error('connection refused')
  const connect = new PgConnectError('acme', 'postgres://***@db/acme', 'connection refused', { sqlState: '08006', cause })
  t.match(connect, { code: 'FST_CHATWOOT_PG_CONNECT', statusCode: 503, instance: 'acme', target: 'postgres://***@db/acme', sqlState: '08006' })
  t.equal(connect.cause, cause)
  t.equal(new PgConnectError('a', 'b', 'c').sqlState, undefined, 'the details are optional')

  const retried = fromStatus({ operation: 'getConversation', method: 'GET', path: '/x' }, 429, '', 2000)
  t.equal(retried.retryAfterMs, 2000, 'a Retry-After travels on the ChatwootError as a typed field')
  t.ok(new OptionsInvalidError('where', 'what') instanceof OptionsInvalidError)
})
