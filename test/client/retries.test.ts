import { createHash } from 'node:crypto'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import { test } from 'tap'
import {
  ChatwootClient, type ChatwootClientOptions, ChatwootError, CLIENT_CHANNEL, type ClientCallEvent, type Message, type RetryOptions
} from '../../lib/client/index.js'
import { backoff, parseRetryAfter, retryPolicy, shouldRetry } from '../../lib/client/retry-policy.js'
import { QUICK, type Teardown, withClient } from '../helpers/client.js'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'

/** Same, with a conversation to post messages to; the request log starts empty. */
async function withConversation (t: Teardown, retry: RetryOptions = QUICK, options: Partial<ChatwootClientOptions> = {}) {
  const setup = await withClient(t, retry, options)
  const { displayId } = await contactWithConversation(setup.call, setup.account.inboxId, 'retry@s.whatsapp.net')
  const messagesPath = `/api/v1/accounts/${setup.account.accountId}/conversations/${displayId}/messages`
  setup.sim.requests.length = 0
  return { ...setup, displayId, messagesPath }
}

type Sim = Awaited<ReturnType<typeof simulatedAccount>>['sim']

const requestsTo = (sim: Sim, method: string, pathEnd: string) =>
  sim.requests.filter((request) => request.method === method && request.path.endsWith(pathEnd))

async function messageRows (sim: Sim, content: string) {
  return sim.query<{ id: number, content: string, source_id: string | null }>(
    'SELECT id, content, source_id FROM messages WHERE content = $1 ORDER BY id', [content])
}

/** The events the client publishes for one instance, each with the moment it was received. */
function recordCalls (t: Teardown, instance: string) {
  const events: Array<ClientCallEvent & { at: number }> = []
  const listener = (message: unknown) => {
    const event = message as ClientCallEvent
    if (event.instance === instance) events.push({ ...event, at: performance.now() })
  }
  subscribe(CLIENT_CHANNEL, listener)
  t.teardown(() => unsubscribe(CLIENT_CHANNEL, listener))
  return events
}

function sha256 (data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

// --- Retries with backoff -------------------------------------------------------------------

test('a read failing with 500 every time is tried 1 + maxRetries times, with growing waits, then fails FST_CHATWOOT_SERVER', async (t) => {
  const { sim, client } = await withClient(t, { maxRetries: 2, minDelayMs: 20, maxDelayMs: 1000, jitter: false }, { instance: 'growing' })
  const events = recordCalls(t, 'growing')
  sim.faults.add({ method: 'GET', path: /\/inboxes$/, status: 500, times: Infinity })
  const error = await client.listInboxes().then(() => undefined, (error: unknown) => error)
  t.ok(error instanceof ChatwootError, 'a ChatwootError')
  t.equal((error as ChatwootError).code, 'FST_CHATWOOT_SERVER')
  t.equal((error as ChatwootError).statusCode, 500)
  t.equal(requestsTo(sim, 'GET', '/inboxes').length, 3, 'the first attempt and 2 retries')
  t.same(events.map((event) => event.attempt), [1, 2, 3])
  t.same(events.map((event) => event.error), ['FST_CHATWOOT_SERVER', 'FST_CHATWOOT_SERVER', 'FST_CHATWOOT_SERVER'])
  // The wait before attempt n+1: from the end of attempt n to the start of attempt n+1.
  const gaps = [1, 2].map((index) => (events[index]!.at - events[index]!.durationMs) - events[index - 1]!.at)
  t.ok(gaps[0]! >= 18, `the first wait is minDelayMs (20 ms), got ${gaps[0]!.toFixed(1)} ms`)
  t.ok(gaps[1]! >= 38, `the second wait doubles (40 ms), got ${gaps[1]!.toFixed(1)} ms`)
})

test('maxRetries 0 makes exactly one request', async (t) => {
  const { sim, client } = await withClient(t, { maxRetries: 0, minDelayMs: 1 })
  sim.faults.add({ method: 'GET', path: /\/inboxes$/, status: 500, times: Infinity })
  await t.rejects(client.listInboxes(), { code: 'FST_CHATWOOT_SERVER' })
  t.equal(requestsTo(sim, 'GET', '/inboxes').length, 1)
})

test('a read failing twice with 500 succeeds on the third request', async (t) => {
  const { sim, account, client } = await withClient(t, { maxRetries: 2, minDelayMs: 1, maxDelayMs: 10, jitter: false })
  sim.faults.add({ method: 'GET', path: /\/inboxes$/, status: 500, times: 2 })
  const answer = await client.listInboxes()
  t.same(answer.payload.map((inbox) => inbox.id), [account.inboxId])
  t.same(requestsTo(sim, 'GET', '/inboxes').map((request) => request.status), [500, 500, 200])
  t.equal(sim.faults.pending, 0)
})

test('a read failing with a reset connection is retried and succeeds', async (t) => {
  const { sim, account, client } = await withClient(t)
  sim.faults.add({ method: 'GET', path: /\/inboxes$/, resetBeforeCommit: true })
  const answer = await client.listInboxes()
  t.same(answer.payload.map((inbox) => inbox.id), [account.inboxId])
  t.equal(requestsTo(sim, 'GET', '/inboxes').length, 2)
})

test('4xx answers other than 429 are never retried', async (t) => {
  const { sim, client } = await withClient(t)
  const expected: Array<[number, string]> = [
    [404, 'FST_CHATWOOT_NOT_FOUND'], [422, 'FST_CHATWOOT_VALIDATION'], [401, 'FST_CHATWOOT_UNAUTHORIZED'], [400, 'FST_CHATWOOT_BAD_REQUEST']
  ]
  for (const [status, code] of expected) {
    sim.requests.length = 0
    sim.faults.add({ method: 'GET', path: /\/inboxes$/, status, times: Infinity })
    const error = await client.listInboxes().then(() => undefined, (error: unknown) => error as ChatwootError)
    t.equal(error?.code, code, `${status} gives ${code}`)
    t.equal(error?.retryable, false, `${status} is not retryable`)
    t.equal(requestsTo(sim, 'GET', '/inboxes').length, 1, `${status}: one request`)
    sim.faults.clear()
  }
})

test('a 429 is retried, for reads', async (t) => {
  const { sim, account, client } = await withClient(t)
  sim.faults.add({ method: 'GET', path: /\/inboxes$/, status: 429 })
  const answer = await client.listInboxes()
  t.same(answer.payload.map((inbox) => inbox.id), [account.inboxId])
  t.same(requestsTo(sim, 'GET', '/inboxes').map((request) => request.status), [429, 200])
})

test('a 429 is retried for an unsafe write too: createConversation lands once', async (t) => {
  const { sim, account, call, client } = await withClient(t)
  const contact = await call('POST', '/contacts', { body: { name: 'Rate Limited', identifier: 'rl@s.whatsapp.net', inbox_id: account.inboxId } })
  t.equal(contact.status, 200)
  sim.requests.length = 0
  sim.faults.add({ method: 'POST', path: /\/conversations$/, status: 429 })
  const conversation = await client.createConversation({
    inbox_id: account.inboxId, contact_id: contact.body.payload.contact.id, source_id: contact.body.payload.contact_inbox.source_id
  })
  t.equal(typeof conversation.id, 'number')
  t.same(requestsTo(sim, 'POST', '/conversations').map((request) => request.status), [429, 200])
  const rows = await sim.query('SELECT display_id FROM conversations')
  t.same(rows.map((row) => row.display_id), [conversation.id], 'exactly one conversation')
})

test('an unsafe write answered 500 is not retried: it may have landed', async (t) => {
  const { sim, account, call, client } = await withClient(t)
  const contact = await call('POST', '/contacts', { body: { name: 'Unsafe', identifier: 'unsafe@s.whatsapp.net', inbox_id: account.inboxId } })
  sim.requests.length = 0
  sim.faults.add({ method: 'POST', path: /\/conversations$/, status: 500 })
  const error = await client.createConversation({
    inbox_id: account.inboxId, contact_id: contact.body.payload.contact.id, source_id: contact.body.payload.contact_inbox.source_id
  }).then(() => undefined, (error: unknown) => error as ChatwootError)
  t.ok(error instanceof ChatwootError)
  t.equal(error?.code, 'FST_CHATWOOT_SERVER')
  t.equal(error?.mayHaveLanded, true)
  t.equal(error?.retryable, true, 'transient in kind, but the policy refused it')
  t.equal(requestsTo(sim, 'POST', '/conversations').length, 1, 'one request')
  t.equal(sim.requests.length, 1, 'no other request either')
})

// --- The policy alone -----------------------------------------------------------------------

test('backoff grows by timeoutFactor from minDelayMs and is capped at maxDelayMs', async (t) => {
  const policy = retryPolicy({ minDelayMs: 100, maxDelayMs: 1000, timeoutFactor: 3, jitter: false })
  t.same([0, 1, 2, 3, 10].map((retry) => backoff(retry, policy)), [100, 300, 900, 1000, 1000])
  const doubling = retryPolicy({ minDelayMs: 250, maxDelayMs: 5000, jitter: false })
  t.same([0, 1, 2, 3, 4, 5].map((retry) => backoff(retry, doubling)), [250, 500, 1000, 2000, 4000, 5000], 'timeoutFactor defaults to 2')
  const flat = retryPolicy({ minDelayMs: 40, maxDelayMs: 1000, timeoutFactor: 1, jitter: false })
  t.same([0, 1, 5].map((retry) => backoff(retry, flat)), [40, 40, 40], 'a factor of 1 waits the same every time')
})

test('jitter keeps each wait between half and all of it', async (t) => {
  const policy = retryPolicy({ minDelayMs: 100, maxDelayMs: 1000, jitter: true })
  t.equal(backoff(1, policy, undefined, () => 0), 100, 'the lowest is half of 200')
  t.equal(backoff(1, policy, undefined, () => 0.5), 150)
  t.ok(backoff(1, policy, undefined, () => 0.999999) <= 200)
  t.ok(backoff(1, policy, undefined, () => 0.999999) > 199)
  t.equal(backoff(10, policy, undefined, () => 0), 500, 'half of the cap')
  const seen = new Set<number>()
  for (let i = 0; i < 200; i++) {
    const wait = backoff(2, policy)
    seen.add(Math.round(wait))
    if (wait < 200 || wait > 400) t.fail(`wait ${wait} outside [200, 400]`)
  }
  t.ok(seen.size > 1, 'the waits differ')
})

test('a Retry-After wins over the backoff, jitter included, but is capped at maxDelayMs', async (t) => {
  const policy = retryPolicy({ minDelayMs: 100, maxDelayMs: 2000, jitter: true })
  t.equal(backoff(0, policy, 1500, () => 0), 1500)
  t.equal(backoff(3, policy, 10, () => 0), 10, 'even shorter than the backoff')
  t.equal(backoff(0, policy, 0), 0)
  t.equal(backoff(0, policy, 60_000), 2000, 'capped at maxDelayMs')
})

test('parseRetryAfter reads seconds and HTTP dates and ignores junk', async (t) => {
  const now = Date.UTC(2025, 0, 1, 12, 0, 0)
  t.equal(parseRetryAfter('3', now), 3000)
  t.equal(parseRetryAfter(' 2 ', now), 2000)
  t.equal(parseRetryAfter('0', now), 0)
  t.equal(parseRetryAfter(['5', '9'], now), 5000, 'the first of repeated headers')
  t.equal(parseRetryAfter('Wed, 01 Jan 2025 12:00:30 GMT', now), 30_000)
  t.equal(parseRetryAfter(new Date(now + 90_000).toUTCString(), now), 90_000)
  t.equal(parseRetryAfter('Wed, 01 Jan 2025 11:59:00 GMT', now), 0, 'a date in the past means now')
  for (const junk of [undefined, '', '   ', 'soon', 'abc', 'later please']) {
    t.equal(parseRetryAfter(junk, now), undefined, `${JSON.stringify(junk)} is ignored`)
  }
})

test('retryPolicy fills in the defaults and rejects bad options with FST_CHATWOOT_OPTIONS_INVALID', async (t) => {
  t.same(retryPolicy(), { maxRetries: 3, minDelayMs: 250, maxDelayMs: 5000, timeoutFactor: 2, jitter: true })
  t.same(retryPolicy({ maxRetries: 0 }).maxRetries, 0)
  t.ok(Object.isFrozen(retryPolicy({})))
  const bad: Array<[string, RetryOptions]> = [
    ['maxRetries', { maxRetries: -1 }],
    ['maxRetries', { maxRetries: 1.5 }],
    ['maxRetries', { maxRetries: Number.NaN }],
    ['minDelayMs', { minDelayMs: -1 }],
    ['minDelayMs', { minDelayMs: Infinity }],
    ['maxDelayMs', { minDelayMs: 500, maxDelayMs: 100 }],
    ['maxDelayMs', { maxDelayMs: Number.NaN }],
    ['timeoutFactor', { timeoutFactor: 0.5 }],
    ['jitter', { jitter: 'yes' as unknown as boolean }]
  ]
  for (const [name, options] of bad) {
    t.throws(() => retryPolicy(options), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: new RegExp(`retry\\.${name}`) }, JSON.stringify(options))
  }
  t.throws(() => new ChatwootClient({ url: 'http://127.0.0.1:1', accountId: 1, token: 'x', retry: { maxRetries: -1 } }),
    { code: 'FST_CHATWOOT_OPTIONS_INVALID' }, 'the client checks its retry options')
})

test('shouldRetry refuses an unsafe call that may have landed, allows one that did not, and stops at maxRetries', async (t) => {
  const policy = retryPolicy({ maxRetries: 2 })
  const failure = (retryable: boolean, mayHaveLanded: boolean) => new ChatwootError({
    code: retryable ? 'FST_CHATWOOT_SERVER' : 'FST_CHATWOOT_NOT_FOUND',
    message: 'failed',
    statusCode: retryable ? 500 : 404,
    method: 'POST',
    path: '/api/v1/accounts/1/conversations',
    operation: 'createConversation',
    retryable,
    mayHaveLanded
  })
  t.equal(shouldRetry(failure(true, true), 'unsafe', 0, policy), false, 'unsafe + may have landed')
  t.equal(shouldRetry(failure(true, false), 'unsafe', 0, policy), true, 'unsafe + certainly not landed')
  t.equal(shouldRetry(failure(true, true), 'read', 0, policy), true)
  t.equal(shouldRetry(failure(true, true), 'idempotent', 0, policy), true)
  t.equal(shouldRetry(failure(true, true), 'guarded', 0, policy), true, 'guarded: the client checks before sending again')
  t.equal(shouldRetry(failure(false, false), 'read', 0, policy), false, 'not retryable')
  t.equal(shouldRetry(failure(true, true), 'read', 1, policy), true)
  t.equal(shouldRetry(failure(true, true), 'read', 2, policy), false, 'retry 2 of maxRetries 2 was the last')
  t.equal(shouldRetry(failure(true, false), 'unsafe', 2, policy), false)
  t.equal(shouldRetry(failure(true, true), 'read', 0, retryPolicy({ maxRetries: 0 })), false)
})

// --- Retry-After over HTTP ------------------------------------------------------------------

test('a Retry-After header of 1 second is honoured between the attempts', async (t) => {
  const app = Fastify()
  const arrivals: number[] = []
  app.get('/api/v1/accounts/1/inboxes', async (_request, reply) => {
    arrivals.push(performance.now())
    if (arrivals.length === 1) return reply.code(503).header('retry-after', '1').send({ error: 'Service Unavailable' })
    return { payload: [] }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const address = app.server.address() as { port: number }
  const client = new ChatwootClient({
    url: `http://127.0.0.1:${address.port}`, accountId: 1, token: 'retry-after-token', retry: { minDelayMs: 1, maxDelayMs: 5000 }
  })
  t.teardown(() => client.close())
  const answer = await client.listInboxes()
  t.same(answer, { payload: [] })
  t.equal(arrivals.length, 2)
  const gap = arrivals[1]! - arrivals[0]!
  t.ok(gap >= 990, `the second request came ${gap.toFixed(0)} ms after the first (Retry-After: 1)`)
})

// --- The idempotency guard for createMessage --------------------------------------------------

test('a message whose answer was lost is found by the lookup and not sent again', async (t) => {
  const { sim, client, displayId, messagesPath } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  const message = await client.createMessage(displayId, { content: 'lost answer', message_type: 'incoming' })
  const rows = await messageRows(sim, 'lost answer')
  t.equal(rows.length, 1, 'exactly one stored message, no duplicate')
  t.equal(message.id, rows[0]?.id, 'the call resolves with the stored message')
  t.equal(message.content, 'lost answer')
  t.equal(message.conversation_id, displayId)
  t.equal(typeof message.source_id, 'string', 'the client gave it a source_id')
  t.equal(message.source_id, rows[0]?.source_id)
  t.same(sim.requests.map(({ method, path }) => `${method} ${path}`), [`POST ${messagesPath}`, `GET ${messagesPath}`],
    'one POST, then the lookup')
  t.equal(sim.requests[0]?.fault, 'dropAfterCommit')
})

test('the lookup pages back when more than a page of messages arrived after the lost answer', async (t) => {
  const { sim, client, displayId, messagesPath } = await withConversation(t, { maxRetries: 3, minDelayMs: 400, maxDelayMs: 400, jitter: false })
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  const sending = client.createMessage(displayId, { content: 'buried', message_type: 'incoming' })
  // While the client waits to retry, the conversation moves on by more than one page of 20.
  while (requestsTo(sim, 'POST', '/messages').length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await sim.query(`INSERT INTO messages (content, account_id, inbox_id, conversation_id, message_type, sender_type)
    SELECT 'later ' || n, c.account_id, c.inbox_id, c.id, 0, 'Contact' FROM conversations c, generate_series(1, 45) n
     WHERE c.display_id = $1`, [displayId])
  const message = await sending
  t.equal(message.content, 'buried')
  t.equal((await messageRows(sim, 'buried')).length, 1, 'found, not sent again')
  t.equal(requestsTo(sim, 'POST', '/messages').length, 1, 'one POST')
  t.equal(sim.requests.filter((request) => request.method === 'GET' && request.path === messagesPath).length, 3,
    'three pages read back to the message')
})

test('a message whose connection was reset before it was stored is sent again and lands once', async (t) => {
  const { sim, client, displayId, messagesPath } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, resetBeforeCommit: true })
  const message = await client.createMessage(displayId, { content: 'reset first', message_type: 'incoming' })
  const rows = await messageRows(sim, 'reset first')
  t.equal(rows.length, 1, 'exactly one stored message')
  t.equal(message.id, rows[0]?.id)
  t.same(sim.requests.map(({ method, path }) => `${method} ${path}`),
    [`POST ${messagesPath}`, `GET ${messagesPath}`, `POST ${messagesPath}`], 'the lookup found nothing, so it was sent again')
  t.equal(sim.requests[0]?.fault, 'resetBeforeCommit')
})

test('a message answered 500 once lands once after the lookup', async (t) => {
  const { sim, client, displayId, messagesPath } = await withConversation(t)
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  const message = await client.createMessage(displayId, { content: 'after 500', source_id: 'wamid.after-500' })
  const rows = await messageRows(sim, 'after 500')
  t.equal(rows.length, 1)
  t.equal(message.id, rows[0]?.id)
  t.equal(rows[0]?.source_id, 'wamid.after-500', 'a given source_id is kept')
  t.same(sim.requests.map(({ method, path, status }) => `${method} ${path} ${status}`),
    [`POST ${messagesPath} 500`, `GET ${messagesPath} 200`, `POST ${messagesPath} 200`])
})

test('a message that fails with 500 every time is not stored and fails after the retries', async (t) => {
  const { sim, client, displayId } = await withConversation(t, { maxRetries: 2, minDelayMs: 1, maxDelayMs: 5, jitter: false })
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500, times: Infinity })
  await t.rejects(client.createMessage(displayId, { content: 'never', message_type: 'incoming' }), { code: 'FST_CHATWOOT_SERVER', operation: 'createMessage' })
  t.equal(requestsTo(sim, 'POST', '/messages').length, 3)
  t.equal(requestsTo(sim, 'GET', '/messages').length, 2, 'a lookup before each re-send')
  t.same(await messageRows(sim, 'never'), [])
})

test('a custom findMessage is used instead of the default lookup, and what it finds is returned', async (t) => {
  const lookups: Array<{ conversationId: number, sourceId: string, client: ChatwootClient }> = []
  let fake: Message | undefined
  const { sim, client, displayId } = await withConversation(t, QUICK, {
    async findMessage (lookup) {
      lookups.push(lookup)
      fake = {
        id: 987654, content: 'found elsewhere', inbox_id: 1, conversation_id: lookup.conversationId, message_type: 0, private: false, source_id: lookup.sourceId, created_at: 0
      }
      return fake
    }
  })
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  const message = await client.createMessage(displayId, { content: 'custom lookup', source_id: 'wamid.custom' })
  t.equal(lookups.length, 1, 'findMessage was called once')
  t.equal(lookups[0]?.conversationId, displayId)
  t.equal(lookups[0]?.sourceId, 'wamid.custom')
  t.equal(lookups[0]?.client, client)
  t.equal(message, fake, 'the found message is the answer')
  t.equal(requestsTo(sim, 'POST', '/messages').length, 1, 'no second POST')
  t.equal(requestsTo(sim, 'GET', '/messages').length, 0, 'the default lookup did not run')
  t.same(await messageRows(sim, 'custom lookup'), [])
})

test('a custom findMessage that finds nothing lets the message be sent again', async (t) => {
  let lookups = 0
  const { sim, client, displayId } = await withConversation(t, QUICK, {
    async findMessage () {
      lookups++
      return null
    }
  })
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  const message = await client.createMessage(displayId, { content: 'custom not found', message_type: 'incoming' })
  t.equal(lookups, 1)
  const rows = await messageRows(sim, 'custom not found')
  t.equal(rows.length, 1)
  t.equal(message.id, rows[0]?.id)
  t.equal(requestsTo(sim, 'POST', '/messages').length, 2)
  t.equal(requestsTo(sim, 'GET', '/messages').length, 0, 'the default lookup did not run')
})

// --- Multipart retries ----------------------------------------------------------------------

test('a multipart message with a stream factory is retried after a 500 with a fresh stream and lands its file once', async (t) => {
  const { sim, client, displayId } = await withConversation(t)
  const bytes = Buffer.from('a streamed voice note, sent twice because the first attempt failed\n'.repeat(50))
  let opened = 0
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  const message = await client.createMessage(displayId, {
    content: 'streamed file',
    message_type: 'incoming',
    attachments: [{
      filename: 'note.ogg',
      contentType: 'audio/ogg',
      data: () => {
        opened++
        return Readable.from([bytes.subarray(0, 100), bytes.subarray(100)])
      }
    }]
  })
  t.equal(opened, 2, 'the data function was called once per attempt')
  const attachments = message.attachments ?? []
  t.equal(attachments.length, 1)
  t.equal(attachments[0]?.file_size, bytes.length)
  const rows = await messageRows(sim, 'streamed file')
  t.equal(rows.length, 1, 'one message')
  const stored = await sim.query<{ meta: { sha256: string, byte_size: number, filename: string } }>(
    'SELECT meta FROM attachments WHERE message_id = $1', [rows[0]?.id])
  t.equal(stored.length, 1, 'one attachment')
  t.equal(stored[0]?.meta.sha256, sha256(bytes), 'the whole file arrived')
  t.equal(stored[0]?.meta.filename, 'note.ogg')
  t.equal(requestsTo(sim, 'POST', '/messages').length, 2)
})

test('a multipart message with Buffer data is retried after a 500 and lands its file once', async (t) => {
  const { sim, client, displayId } = await withConversation(t)
  const bytes = Buffer.from('%PDF-1.4 a small document\n'.repeat(20))
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  const message = await client.createMessage(displayId, {
    content: 'buffered file',
    message_type: 'incoming',
    attachments: [{ filename: 'doc.pdf', contentType: 'application/pdf', data: bytes }]
  })
  t.equal(message.attachments?.[0]?.file_size, bytes.length)
  const rows = await messageRows(sim, 'buffered file')
  t.equal(rows.length, 1)
  const stored = await sim.query<{ meta: { sha256: string } }>('SELECT meta FROM attachments WHERE message_id = $1', [rows[0]?.id])
  t.equal(stored.length, 1)
  t.equal(stored[0]?.meta.sha256, sha256(bytes))
  t.equal(requestsTo(sim, 'POST', '/messages').length, 2)
})

test('a multipart message whose answer was lost is found by the lookup: the file is not sent twice', async (t) => {
  const { sim, client, displayId } = await withConversation(t)
  const bytes = Buffer.from('picture bytes')
  let opened = 0
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  const message = await client.createMessage(displayId, {
    content: 'dropped file',
    message_type: 'incoming',
    attachments: [{
      filename: 'p.jpg',
      contentType: 'image/jpeg',
      data: () => {
        opened++
        return Readable.from([bytes])
      }
    }]
  })
  t.equal(opened, 1)
  const rows = await messageRows(sim, 'dropped file')
  t.equal(rows.length, 1)
  t.equal(message.id, rows[0]?.id)
  const [row] = await sim.query<{ count: number }>('SELECT count(*)::int AS count FROM attachments')
  t.equal(row?.count, 1)
})
