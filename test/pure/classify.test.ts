// classify turns an answer or a transport failure into one ChatwootError: its code, whether the
// retry policy may try again, and whether the call may have landed (a duplicate check is needed).
// Pure: statuses and error codes are given, no server.
import { test } from 'tap'
import { fromStatus, fromTransport, inputInvalid } from '../../lib/client/classify.js'
import { ChatwootError } from '../../lib/client/errors.js'

const call = { operation: 'createMessage', method: 'POST', path: '/api/v1/accounts/1/conversations/2/messages' }
const outcome = (error: ChatwootError) => ({ code: error.code, statusCode: error.statusCode, retryable: error.retryable, mayHaveLanded: error.mayHaveLanded })

test('statuses: code, retryable, mayHaveLanded', async (t) => {
  const cases: Array<[number, string, boolean, boolean]> = [
    [400, 'FST_CHATWOOT_BAD_REQUEST', false, false],
    [401, 'FST_CHATWOOT_UNAUTHORIZED', false, false],
    [403, 'FST_CHATWOOT_UNAUTHORIZED', false, false],
    [404, 'FST_CHATWOOT_NOT_FOUND', false, false],
    [409, 'FST_CHATWOOT_BAD_REQUEST', false, false],
    [422, 'FST_CHATWOOT_VALIDATION', false, false],
    [429, 'FST_CHATWOOT_RATE_LIMITED', true, false],
    [500, 'FST_CHATWOOT_SERVER', true, true],
    [502, 'FST_CHATWOOT_SERVER', true, true],
    [503, 'FST_CHATWOOT_SERVER', true, true]
  ]
  for (const [status, code, retryable, mayHaveLanded] of cases) {
    const error = fromStatus(call, status, { error: 'x' })
    t.ok(error instanceof ChatwootError, `${status} is a ChatwootError`)
    t.same(outcome(error), { code, statusCode: status, retryable, mayHaveLanded }, String(status))
  }
})

test('a 422 saying exactly "Too many messages" waits; any other 422 is a validation failure', async (t) => {
  const limited = fromStatus(call, 422, { message: 'Validation failed: Too many messages' })
  t.same(outcome(limited), { code: 'FST_CHATWOOT_TOO_MANY_MESSAGES', statusCode: 422, retryable: false, mayHaveLanded: false })
  t.equal(fromStatus(call, 422, ' Validation failed: Too many messages\n').code, 'FST_CHATWOOT_TOO_MANY_MESSAGES', 'as text too')
  t.equal(fromStatus(call, 422, { message: 'Validation failed: Too many messages, Content is too long' }).code,
    'FST_CHATWOOT_VALIDATION', 'joined with another failure it cannot pass by waiting')
  t.equal(fromStatus(call, 400, { message: 'Validation failed: Too many messages' }).code, 'FST_CHATWOOT_BAD_REQUEST', 'only on a 422')
})

test('the message names the call and Chatwoot\'s own words, one line at most', async (t) => {
  t.equal(fromStatus(call, 404, { error: 'Resource could not be found' }).message,
    `Chatwoot createMessage (POST ${call.path}) answered 404: Resource could not be found`)
  t.match(fromStatus(call, 422, { errors: ['Name is too long', 'other'] }).message, /answered 422: Name is too long$/)
  t.match(fromStatus(call, 422, { message: 'Invalid' }).message, /answered 422: Invalid$/)
  t.match(fromStatus(call, 500, '  <html>oops</html>\n').message, /answered 500: <html>oops<\/html>$/)
  t.match(fromStatus(call, 500, { unexpected: true }).message, /answered 500$/, 'nothing readable: no colon')
  t.match(fromStatus(call, 500, null).message, /answered 500$/)
  t.equal(fromStatus(call, 500, 'x'.repeat(1000)).message.length,
    `Chatwoot createMessage (POST ${call.path}) answered 500: `.length + 200, 'cut at 200 characters')
  const body = { error: 'no', extra: 1 }
  t.equal(fromStatus(call, 401, body).body, body, 'the parsed body is kept for the caller')
})

test('transport failures: refused connections never landed; a reset or timeout may have', async (t) => {
  const failure = (code: string) => Object.assign(new Error(code), { code })
  for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']) {
    t.same(outcome(fromTransport(call, failure(code))), { code: 'FST_CHATWOOT_NETWORK', statusCode: 503, retryable: true, mayHaveLanded: false }, code)
  }
  t.same(outcome(fromTransport(call, failure('ECONNRESET'))),
    { code: 'FST_CHATWOOT_NETWORK', statusCode: 503, retryable: true, mayHaveLanded: true }, 'ECONNRESET: the request may have been read')
  t.same(outcome(fromTransport(call, failure('UND_ERR_CONNECT_TIMEOUT'))),
    { code: 'FST_CHATWOOT_TIMEOUT', statusCode: 504, retryable: true, mayHaveLanded: false }, 'no connection: a timeout that never sent')
  for (const code of ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']) {
    t.same(outcome(fromTransport(call, failure(code))), { code: 'FST_CHATWOOT_TIMEOUT', statusCode: 504, retryable: true, mayHaveLanded: true }, code)
  }
  for (const code of ['UND_ERR_DESTROYED', 'UND_ERR_CLOSED']) {
    t.same(outcome(fromTransport(call, failure(code))), { code: 'FST_CHATWOOT_NETWORK', statusCode: 503, retryable: false, mayHaveLanded: false },
      `${code}: a closed client stays closed`)
  }
})

test('transport messages, the cause, and the client\'s own deadline', async (t) => {
  const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:3000'), { code: 'ECONNREFUSED' })
  const error = fromTransport(call, cause)
  t.equal(error.message, `Chatwoot createMessage (POST ${call.path}) failed: network error (ECONNREFUSED)`)
  t.equal(error.cause, cause)
  const deadline = fromTransport(call, new Error('aborted'), true)
  t.same(outcome(deadline), { code: 'FST_CHATWOOT_TIMEOUT', statusCode: 504, retryable: true, mayHaveLanded: true })
  t.match(deadline.message, /failed: timed out$/)
  t.match(fromTransport(call, 'not an error').message, /failed: network error$/, 'anything thrown is classified')
})

test('inputInvalid: a 400 that never left, never retried', async (t) => {
  const error = inputInvalid(call, 'content must be a string')
  t.same(outcome(error), { code: 'FST_CHATWOOT_INPUT_INVALID', statusCode: 400, retryable: false, mayHaveLanded: false })
  t.equal(error.message, 'Invalid input for Chatwoot createMessage: content must be a string')
  t.equal(error.operation, 'createMessage')
})
