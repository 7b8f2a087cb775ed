import { performance } from 'node:perf_hooks'
import { test } from 'tap'
import { request } from 'undici'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { contactWithConversation, simulatedAccount, startSimulator } from '../helpers/simulator.js'

const INTERNAL_SERVER_ERROR = { status: 500, error: 'Internal Server Error' }

/** A simulator with one account and one conversation, and a way to post messages to it. */
async function withConversation (t: { teardown: (fn: () => unknown) => void }, identifier = 'fault@s.whatsapp.net') {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, identifier)
  const messagesPath = `/conversations/${displayId}/messages`
  const post = (content: string) => call('POST', messagesPath, { body: { content, message_type: 'incoming' } })
  const stored = async () => (await sim.query<{ content: string }>('SELECT content FROM messages ORDER BY id')).map((row) => row.content)
  return { sim, account, call, displayId, messagesPath, post, stored }
}

/** The raw undici call, so a test can see a rejection (socket errors) instead of an answer. */
function rawPost (sim: ChatwootSimulator, account: CreatedAccount, path: string, body: unknown) {
  return request(`${sim.url}/api/v1/accounts/${account.accountId}${path}`, {
    method: 'POST',
    headers: { api_access_token: account.token, 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })
}

test('a status fault answers 500 with Rails\' body instead of handling the request, and stores nothing', async (t) => {
  const { sim, post, stored } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  t.equal(sim.faults.pending, 1)
  const faulted = await post('lost')
  t.equal(faulted.status, 500)
  t.match(faulted.headers['content-type'], /^application\/json/)
  t.same(faulted.body, INTERNAL_SERVER_ERROR)
  t.same(await stored(), [], 'the faulted message was not stored')
  t.equal(sim.faults.pending, 0, 'a fault without times is used up by one request')
})

test('a fault without times hits only the next matching request', async (t) => {
  const { sim, post, stored } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  t.equal((await post('first')).status, 500)
  const second = await post('second')
  t.equal(second.status, 200)
  t.equal(second.body.content, 'second')
  t.same(await stored(), ['second'])
})

test('a fault with times: 3 hits exactly three matching requests', async (t) => {
  const { sim, post, stored } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 503, times: 3 })
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await post(`m${i}`)).status)
  t.same(statuses, [503, 503, 503, 200])
  t.same(await stored(), ['m3'])
  t.equal(sim.faults.pending, 0)
})

test('a status fault with no body sends Rails\' body for that status', async (t) => {
  const { sim, post } = await withConversation(t)
  sim.faults.add({ path: /\/messages$/, status: 503 })
  const answer = await post('x')
  t.equal(answer.status, 503)
  t.same(answer.body, { status: 503, error: 'Service Unavailable' })
  sim.faults.add({ path: /\/messages$/, status: 404 })
  const missing = await post('y')
  t.equal(missing.status, 404)
  t.same(missing.body, { error: 'Resource could not be found' })
})

test('a fault with times: Infinity hits every matching request until faults.clear()', async (t) => {
  const { sim, post, stored } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500, times: Infinity })
  for (let i = 0; i < 5; i++) {
    const answer = await post(`lost ${i}`)
    t.equal(answer.status, 500, `request ${i} is faulted`)
    t.same(answer.body, INTERNAL_SERVER_ERROR)
  }
  t.equal(sim.faults.pending, 1, 'still armed')
  sim.faults.clear()
  t.equal(sim.faults.pending, 0)
  const after = await post('kept')
  t.equal(after.status, 200)
  t.same(await stored(), ['kept'])
})

test('a POST fault does not hit a GET to the same path', async (t) => {
  const { sim, account, call, messagesPath, post } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: `/api/v1/accounts/${account.accountId}${messagesPath}`, status: 500 })
  const listed = await call('GET', messagesPath)
  t.equal(listed.status, 200)
  t.same(listed.body.payload, [])
  t.equal(sim.faults.pending, 1, 'the GET did not use the fault up')
  t.equal((await post('x')).status, 500)
})

test('a string path is the whole path: a path relative to the account does not match', async (t) => {
  const { sim, messagesPath, post, stored } = await withConversation(t)
  sim.faults.add({ path: messagesPath, status: 500 })
  t.equal((await post('x')).status, 200)
  t.equal(sim.faults.pending, 1)
  t.same(await stored(), ['x'])
})

test('a fault\'s method matches whatever its case', async (t) => {
  const { sim, post } = await withConversation(t)
  sim.faults.add({ method: 'post', path: /\/messages$/, status: 500 })
  t.equal((await post('x')).status, 500)
})

test('a string path matches only that exact path, without the query', async (t) => {
  const { sim, account, call, displayId, messagesPath } = await withConversation(t)
  const exact = `/api/v1/accounts/${account.accountId}${messagesPath}`
  sim.faults.add({ path: exact, status: 502, times: Infinity })
  // Another path of the same conversation and a longer path that starts the same way are not hit.
  t.equal((await call('GET', `/conversations/${displayId}`)).status, 200)
  t.equal((await call('GET', `${messagesPath}/`)).status !== 502, true, 'a trailing slash is another path')
  const withQuery = await call('GET', `${messagesPath}?after=0`)
  t.equal(withQuery.status, 502, 'the query is not part of the matched path')
  t.same(withQuery.body, { status: 502, error: 'Bad Gateway' })
  t.equal((await call('POST', messagesPath, { body: { content: 'x' } })).status, 502)
})

test('a RegExp path matches only the paths it matches', async (t) => {
  const { sim, call, displayId, post } = await withConversation(t)
  sim.faults.add({ path: /\/contacts\/search$/, status: 500, times: Infinity })
  t.equal((await post('x')).status, 200, 'a message post is not hit')
  t.equal((await call('GET', `/conversations/${displayId}`)).status, 200)
  t.equal((await call('GET', '/contacts/search?q=fault')).status, 500)
})

test('a global RegExp pattern matches every request, not every other one', async (t) => {
  const { sim, post } = await withConversation(t)
  sim.faults.add({ path: /messages/g, status: 500, times: 3 })
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await post(`m${i}`)).status)
  t.same(statuses, [500, 500, 500])
})

test('faults are used in the order they were added', async (t) => {
  const { sim, post } = await withConversation(t)
  sim.faults.add({ path: /\/messages$/, status: 502 })
  sim.faults.add({ path: /\/messages$/, status: 503 })
  t.equal((await post('a')).status, 502)
  t.equal((await post('b')).status, 503)
  t.equal((await post('c')).status, 200)
})

test('a 429 fault answers like rack-attack: text/plain "Retry later\\n" and no Retry-After', async (t) => {
  const { sim, post, stored } = await withConversation(t)
  sim.faults.add({ status: 429 })
  const answer = await post('x')
  t.equal(answer.status, 429)
  t.match(answer.headers['content-type'], /^text\/plain/)
  t.equal(answer.text, 'Retry later\n')
  t.notOk('retry-after' in answer.headers, 'no retry-after header')
  t.same(await stored(), [])
})

test('a fault\'s own body and content type are sent as given', async (t) => {
  const { sim, post } = await withConversation(t)
  sim.faults.add({ status: 502, body: '<html>Bad Gateway</html>', contentType: 'text/html' })
  const html = await post('x')
  t.equal(html.status, 502)
  t.match(html.headers['content-type'], /^text\/html/)
  t.equal(html.text, '<html>Bad Gateway</html>')

  sim.faults.add({ status: 422, body: { error: 'custom failure', detail: [1, 2] } })
  const json = await post('y')
  t.equal(json.status, 422)
  t.match(json.headers['content-type'], /^application\/json/)
  t.same(json.body, { error: 'custom failure', detail: [1, 2] })

  sim.faults.add({ status: 503, body: 'maintenance' })
  const text = await post('z')
  t.equal(text.status, 503)
  t.match(text.headers['content-type'], /^text\/plain/)
  t.equal(text.text, 'maintenance')
})

test('a fault\'s content type alone replaces the one of Chatwoot\'s own body', async (t) => {
  const { sim, account, messagesPath } = await withConversation(t)
  sim.faults.add({ status: 429, contentType: 'application/json' })
  const answer = await rawPost(sim, account, messagesPath, { content: 'x' })
  t.equal(answer.statusCode, 429)
  t.match(answer.headers['content-type'], /^application\/json/)
  t.equal(await answer.body.text(), 'Retry later\n')
})

test('a fault with an object body and a non-JSON content type is refused up front or sent as given', async (t) => {
  const { sim, account, messagesPath, stored } = await withConversation(t)
  const specs = [
    { status: 500, contentType: 'text/html', expected: INTERNAL_SERVER_ERROR },
    { status: 400, body: { reason: 'custom' }, contentType: 'application/vnd.custom', expected: { reason: 'custom' } },
    { status: 503, contentType: 'application/problem+json', expected: { status: 503, error: 'Service Unavailable' } }
  ]
  for (const { expected, ...spec } of specs) {
    const name = `${spec.status} as ${spec.contentType}`
    let armed = true
    try {
      sim.faults.add(spec)
    } catch (error) {
      armed = false
      t.equal((error as { code?: string }).code, 'FST_CHATWOOT_SIM_OPTIONS_INVALID', `${name}: refused as an invalid option`)
    }
    if (!armed) continue
    sim.requests.length = 0
    const answer = await rawPost(sim, account, messagesPath, { content: 'x' })
    const text = await answer.body.text()
    t.equal(answer.statusCode, spec.status, `${name}: the fault's status is sent`)
    t.match(answer.headers['content-type'], new RegExp(`^${spec.contentType.replace(/[.+]/g, '\\$&')}`),
      `${name}: the fault's content type is sent`)
    t.same(JSON.parse(text), expected, `${name}: the body is sent as JSON`)
    t.same(sim.requests.map((logged) => logged.status), [answer.statusCode], `${name}: the log shows the status the client got`)
  }
  t.same(await stored(), [], 'no faulted message was stored')
})

test('a delay fault answers no sooner than delayMs, then handles the request as usual', async (t) => {
  const { sim, post, stored } = await withConversation(t)
  const delayMs = 300
  sim.faults.add({ method: 'POST', path: /\/messages$/, delayMs })
  const started = performance.now()
  const answer = await post('late')
  const elapsed = performance.now() - started
  t.ok(elapsed >= delayMs - 2, `answered after ${elapsed.toFixed(1)} ms, at least ${delayMs} ms`)
  t.equal(answer.status, 200)
  t.equal(answer.body.content, 'late')
  t.same(await stored(), ['late'])
})

test('a delay with a status waits, then answers with that status', async (t) => {
  const { sim, post, stored } = await withConversation(t)
  const delayMs = 200
  sim.faults.add({ path: /\/messages$/, delayMs, status: 504 })
  const started = performance.now()
  const answer = await post('x')
  const elapsed = performance.now() - started
  t.ok(elapsed >= delayMs - 2, `answered after ${elapsed.toFixed(1)} ms, at least ${delayMs} ms`)
  t.equal(answer.status, 504)
  t.same(answer.body, { status: 504, error: 'Gateway Timeout' })
  t.same(await stored(), [])
})

test('dropAfterCommit stores the message, then drops the connection without answering', async (t) => {
  const { sim, account, messagesPath, post, stored } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  await t.rejects(rawPost(sim, account, messagesPath, { content: 'landed', message_type: 'incoming' }),
    { code: 'UND_ERR_SOCKET' }, 'the client sees a socket error')
  t.same(await stored(), ['landed'], 'the message is in the messages table')
  const rows = await sim.query('SELECT m.message_type, c.display_id FROM messages m JOIN conversations c ON c.id = m.conversation_id')
  t.equal(rows.length, 1)
  t.equal(rows[0].message_type, 0)
  const next = await post('next')
  t.equal(next.status, 200, 'the simulator keeps serving')
  t.equal(next.body.content, 'next')
  t.same(await stored(), ['landed', 'next'])
})

test('resetBeforeCommit resets the connection and stores nothing', async (t) => {
  const { sim, account, messagesPath, post, stored } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, resetBeforeCommit: true })
  await t.rejects(rawPost(sim, account, messagesPath, { content: 'lost', message_type: 'incoming' }),
    { code: 'ECONNRESET' }, 'the client sees a connection reset')
  t.same(await stored(), [], 'nothing is stored')
  const next = await post('next')
  t.equal(next.status, 200, 'the simulator keeps serving')
  t.same(await stored(), ['next'])
})

test('sim.requests logs method, path without query and status, with the fault that hit, and never a token', async (t) => {
  const { sim, account, call, displayId, messagesPath, post } = await withConversation(t)
  const base = `/api/v1/accounts/${account.accountId}`
  sim.requests.length = 0
  t.equal((await call('GET', `${messagesPath}?after=0&api_access_token=${account.token}`)).status, 200)
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  t.equal((await post('a')).status, 500)
  sim.faults.add({ method: 'POST', path: /\/messages$/, delayMs: 5 })
  t.equal((await post('b')).status, 200)
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  await t.rejects(rawPost(sim, account, messagesPath, { content: 'c' }))
  sim.faults.add({ method: 'POST', path: /\/messages$/, resetBeforeCommit: true })
  await t.rejects(rawPost(sim, account, messagesPath, { content: 'd' }))
  t.equal((await call('GET', `/conversations/${displayId}`, { token: 'not-a-token' })).status, 401)

  t.same(sim.requests, [
    { method: 'GET', path: `${base}${messagesPath}`, status: 200 },
    { method: 'POST', path: `${base}${messagesPath}`, status: 500, fault: 'status' },
    { method: 'POST', path: `${base}${messagesPath}`, status: 200, fault: 'delay' },
    { method: 'POST', path: `${base}${messagesPath}`, status: 200, fault: 'dropAfterCommit' },
    { method: 'POST', path: `${base}${messagesPath}`, status: 0, fault: 'resetBeforeCommit' },
    { method: 'GET', path: `${base}/conversations/${displayId}`, status: 401 }
  ])
  const logged = JSON.stringify(sim.requests)
  t.notOk(logged.includes(account.token), 'the admin token is not logged')
  t.notOk(logged.includes('not-a-token'), 'an unknown token is not logged')
})

test('invalid fault specs throw FST_CHATWOOT_SIM_OPTIONS_INVALID and arm nothing', async (t) => {
  const sim = await startSimulator(t)
  const invalid: Array<[string, unknown]> = [
    ['status below 200', { status: 99 }],
    ['status above 599', { status: 600 }],
    ['a fractional status', { status: 500.5 }],
    ['times 0', { status: 500, times: 0 }],
    ['negative times', { status: 500, times: -1 }],
    ['fractional times', { status: 500, times: 1.5 }],
    ['a negative delay', { delayMs: -1 }],
    ['a NaN delay', { delayMs: Number.NaN }],
    ['status with dropAfterCommit', { status: 500, dropAfterCommit: true }],
    ['status with resetBeforeCommit', { status: 500, resetBeforeCommit: true }],
    ['dropAfterCommit with resetBeforeCommit', { dropAfterCommit: true, resetBeforeCommit: true }],
    ['a spec with no effect', { method: 'POST', path: /\/messages$/ }],
    ['an empty spec', {}],
    ['effects switched off', { dropAfterCommit: false, resetBeforeCommit: false }],
    ['a non-string method', { method: 1, status: 500 }],
    ['a path that is neither string nor RegExp', { path: 42, status: 500 }],
    ['null', null]
  ]
  for (const [name, spec] of invalid) {
    t.throws(() => sim.faults.add(spec as any), { code: 'FST_CHATWOOT_SIM_OPTIONS_INVALID' }, name)
  }
  t.equal(sim.faults.pending, 0, 'no invalid spec was armed')
  t.doesNotThrow(() => sim.faults.add({ status: 200 }), 'status 200 is a valid fault')
  t.doesNotThrow(() => sim.faults.add({ status: 599, times: Infinity }), 'status 599 with Infinity is valid')
  t.doesNotThrow(() => sim.faults.add({ delayMs: 0 }), 'a zero delay is valid')
  t.equal(sim.faults.pending, 3)
})

test('posting to a deleted conversation answers 404 Resource could not be found', async (t) => {
  const { sim, account, displayId, post, stored } = await withConversation(t)
  t.equal((await post('before')).status, 200)
  t.equal(await sim.deleteConversation(account.accountId, displayId), true)
  const after = await post('after')
  t.equal(after.status, 404)
  t.same(after.body, { error: 'Resource could not be found' })
  t.same(await stored(), [], 'the delete took the conversation\'s messages with it')
  t.equal(await sim.deleteConversation(account.accountId, displayId), false, 'a second delete finds nothing')
})
