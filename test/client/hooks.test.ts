import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Readable } from 'node:stream'
import { test } from 'tap'
import {
  ChatwootClient, type ChatwootClientOptions, ChatwootError, CLIENT_CHANNEL, type ClientCallEvent, type ErrorContext, type OnErrorHook
} from '../../lib/client/index.js'
import { QUICK, type Teardown, withClient } from '../helpers/client.js'
import { chatwootApi, contactWithConversation, simulatedAccount } from '../helpers/simulator.js'

/** A client and `count` conversations, the first one deleted (a 404 for every post to it); the request log starts empty. */
async function withDeletedConversation (t: Teardown, count = 2, options: Partial<ChatwootClientOptions> = {}) {
  const setup = await withClient(t, QUICK, options)
  const ids: number[] = []
  for (let i = 0; i < count; i++) {
    ids.push((await contactWithConversation(setup.call, setup.account.inboxId, `hook-${i}@s.whatsapp.net`)).displayId)
  }
  const [deletedId, ...others] = ids as [number, ...number[]]
  if (!await setup.sim.deleteConversation(setup.account.accountId, deletedId)) throw new Error(`conversation ${deletedId} was not deleted`)
  setup.sim.requests.length = 0
  return { ...setup, deletedId, others }
}

type Sim = Awaited<ReturnType<typeof simulatedAccount>>['sim']

const posts = (sim: Sim) => sim.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/messages'))

/** Where each stored message with that content is: the conversations' display ids. */
async function landedIn (sim: Sim, content: string): Promise<number[]> {
  const rows = await sim.query<{ display_id: number }>(
    'SELECT c.display_id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.content = $1 ORDER BY m.id', [content])
  return rows.map((row) => row.display_id)
}

async function failure (promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (error: unknown) => error)
}

// --- A hook that redirects the call --------------------------------------------------------

test('an onError hook turns a 404 into a retry in another conversation (JSON message)', async (t) => {
  const { sim, client, deletedId, others: [otherId] } = await withDeletedConversation(t)
  const seen: Array<{ error: ChatwootError, context: ErrorContext }> = []
  client.addHook('onError', async (error, context) => {
    seen.push({ error, context })
    if (error.code === 'FST_CHATWOOT_NOT_FOUND' && context.operation === 'createMessage') return { retry: { conversationId: otherId } }
  })
  const message = await client.createMessage(deletedId, { content: 'redirected json', message_type: 'incoming' })
  t.equal(seen.length, 1, 'the hook ran once')
  const { error, context } = seen[0]!
  t.ok(error instanceof ChatwootError)
  t.equal(error.code, 'FST_CHATWOOT_NOT_FOUND')
  t.equal(error.statusCode, 404)
  t.equal(context.operation, 'createMessage')
  t.equal((context.params as { conversationId: number }).conversationId, deletedId)
  t.equal((context.params as { message: { content: string } }).message.content, 'redirected json')
  t.ok(context.attempt >= 1, `context.attempt is ${context.attempt}`)
  t.equal(context.client, client)
  t.equal(message.conversation_id, otherId, 'the answer is from the other conversation')
  t.equal(message.content, 'redirected json')
  t.same(await landedIn(sim, 'redirected json'), [otherId], 'stored once, in the other conversation')
  t.same(posts(sim).map((request) => request.status), [404, 200])
})

test('an onError hook turns a 404 into a retry in another conversation (multipart message with a stream factory)', async (t) => {
  const { sim, client, deletedId, others: [otherId] } = await withDeletedConversation(t)
  const bytes = Buffer.from('a photo sent to a conversation that was deleted meanwhile'.repeat(30))
  let opened = 0
  const seen: ErrorContext[] = []
  client.addHook('onError', (error, context) => {
    seen.push(context)
    return error.code === 'FST_CHATWOOT_NOT_FOUND' ? { retry: { conversationId: otherId } } : undefined
  })
  const message = await client.createMessage(deletedId, {
    content: 'redirected file',
    attachments: [{
      filename: 'photo.jpg',
      contentType: 'image/jpeg',
      data: () => {
        opened++
        return Readable.from([bytes])
      }
    }]
  })
  t.equal(seen.length, 1)
  t.equal(seen[0]?.operation, 'createMessage')
  t.equal((seen[0]?.params as { conversationId: number }).conversationId, deletedId)
  t.equal(opened, 2, 'a fresh stream for the redirected attempt')
  t.equal(message.conversation_id, otherId)
  t.equal(message.attachments?.[0]?.file_size, bytes.length)
  t.same(await landedIn(sim, 'redirected file'), [otherId])
  t.same(posts(sim).map((request) => request.status), [404, 200])
})

test('a hook that throws fails the call with its own error, caused by the ChatwootError', async (t) => {
  const { sim, client, deletedId } = await withDeletedConversation(t, 1)
  const thrown = new Error('the bridge gave up')
  client.addHook('onError', () => { throw thrown })
  const error = await failure(client.createMessage(deletedId, { content: 'hook throws' }))
  t.equal(error, thrown, 'the hook\'s error')
  const cause = (error as Error).cause
  t.ok(cause instanceof ChatwootError, 'its cause is the ChatwootError')
  t.equal((cause as ChatwootError).code, 'FST_CHATWOOT_NOT_FOUND')
  t.equal((cause as ChatwootError).operation, 'createMessage')
  t.equal(posts(sim).length, 1)
})

test('a hook that throws an error with its own cause keeps that cause', async (t) => {
  const { client, deletedId } = await withDeletedConversation(t, 1)
  const own = new Error('database down')
  client.addHook('onError', async () => { throw new Error('cache eviction failed', { cause: own }) })
  const error = await failure(client.createMessage(deletedId, { content: 'hook throws with cause' }))
  t.match(error, { message: 'cache eviction failed' })
  t.equal((error as Error).cause, own)
})

test('a second retry by the same hook for the same call is refused: the call fails after two posts', async (t) => {
  const { sim, client, deletedId } = await withDeletedConversation(t, 1)
  let calls = 0
  client.addHook('onError', async () => {
    calls++
    return { retry: { conversationId: deletedId } }
  })
  const error = await failure(client.createMessage(deletedId, { content: 'loops' }))
  t.ok(error instanceof ChatwootError)
  t.equal((error as ChatwootError).code, 'FST_CHATWOOT_NOT_FOUND')
  t.equal(calls, 2, 'the hook was called twice')
  t.equal(posts(sim).length, 2, 'exactly two POSTs to messages')
  t.same(await landedIn(sim, 'loops'), [])
})

test('the bound is per call: the same hook may redirect the next call again', async (t) => {
  const { sim, client, deletedId, others: [otherId] } = await withDeletedConversation(t)
  let calls = 0
  client.addHook('onError', () => {
    calls++
    return { retry: { conversationId: otherId } }
  })
  const first = await client.createMessage(deletedId, { content: 'first call' })
  const second = await client.createMessage(deletedId, { content: 'second call' })
  t.equal(first.conversation_id, otherId)
  t.equal(second.conversation_id, otherId)
  t.equal(calls, 2)
  t.same(posts(sim).map((request) => request.status), [404, 200, 404, 200])
})

test('when one hook\'s retry is refused, the next hook may still redirect the call', async (t) => {
  const { sim, client, deletedId, others: [otherId] } = await withDeletedConversation(t)
  const order: string[] = []
  client.addHook('onError', () => {
    order.push('stubborn')
    return { retry: { conversationId: deletedId } }
  })
  client.addHook('onError', () => {
    order.push('rescuer')
    return { retry: { conversationId: otherId } }
  })
  const message = await client.createMessage(deletedId, { content: 'rescued' })
  t.equal(message.conversation_id, otherId)
  t.same(order, ['stubborn', 'stubborn', 'rescuer'])
  t.same(await landedIn(sim, 'rescued'), [otherId])
  t.equal(posts(sim).length, 3)
})

// --- Order and timing of hooks --------------------------------------------------------------

test('hooks run in registration order, undefined passes on, and the first directive wins', async (t) => {
  const { sim, client, deletedId, others: [secondId, thirdId] } = await withDeletedConversation(t, 3)
  const order: string[] = []
  const hooks: Array<[string, OnErrorHook]> = [
    ['passes', () => { order.push('passes') }],
    ['async passes', async () => { order.push('async passes') }],
    ['decides', () => {
      order.push('decides')
      return { retry: { conversationId: secondId } }
    }],
    ['too late', () => {
      order.push('too late')
      return { retry: { conversationId: thirdId } }
    }]
  ]
  for (const [, hook] of hooks) t.equal(client.addHook('onError', hook), client, 'addHook returns the client')
  const message = await client.createMessage(deletedId, { content: 'ordered' })
  t.same(order, ['passes', 'async passes', 'decides'])
  t.equal(message.conversation_id, secondId, 'the first directive was applied')
  t.same(await landedIn(sim, 'ordered'), [secondId])
})

test('when every hook returns undefined the original error is thrown', async (t) => {
  const { client, deletedId } = await withDeletedConversation(t, 1)
  let seen: ChatwootError | undefined
  let calls = 0
  client.addHook('onError', (error) => { seen = error })
  client.addHook('onError', () => { calls++ })
  const error = await failure(client.createMessage(deletedId, { content: 'nobody helps' }))
  t.equal(error, seen, 'the very error the hooks saw')
  t.equal(calls, 1)
})

test('hooks are not called when the retry policy recovers the call', async (t) => {
  const { sim, account, client } = await withClient(t, { maxRetries: 2, minDelayMs: 1, maxDelayMs: 5 })
  let calls = 0
  client.addHook('onError', () => { calls++ })
  sim.faults.add({ method: 'GET', path: /\/inboxes$/, status: 500 })
  const answer = await client.listInboxes()
  t.same(answer.payload.map((inbox) => inbox.id), [account.inboxId])
  t.equal(calls, 0, 'the hook was not called')
  t.equal(sim.requests.filter((request) => request.path.endsWith('/inboxes')).length, 2)
})

test('hooks see the final error after the retries, with the attempts made so far', async (t) => {
  const { sim, client } = await withClient(t, { maxRetries: 1, minDelayMs: 1, maxDelayMs: 5 })
  const seen: Array<{ error: ChatwootError, context: ErrorContext }> = []
  client.addHook('onError', (error, context) => { seen.push({ error, context }) })
  sim.faults.add({ method: 'GET', path: /\/inboxes$/, status: 500, times: Infinity })
  const error = await failure(client.listInboxes())
  t.equal(seen.length, 1, 'once, after the policy gave up')
  t.equal(seen[0]?.error, error)
  t.equal(seen[0]?.error.code, 'FST_CHATWOOT_SERVER')
  t.equal(seen[0]?.context.operation, 'listInboxes')
  t.equal(seen[0]?.context.attempt, 2)
  t.equal(sim.requests.filter((request) => request.path.endsWith('/inboxes')).length, 2)
})

test('addHook refuses an unknown hook name and a non-function with FST_CHATWOOT_OPTIONS_INVALID', async (t) => {
  const client = new ChatwootClient({ url: 'http://127.0.0.1:1', accountId: 1, token: 'hook-token' })
  t.teardown(() => client.close())
  t.throws(() => client.addHook('onRequest' as 'onError', () => undefined), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /onRequest/ })
  t.throws(() => client.addHook('onError', 'not a function' as unknown as OnErrorHook), { code: 'FST_CHATWOOT_OPTIONS_INVALID' })
  t.throws(() => client.addHook('onError', undefined as unknown as OnErrorHook), { code: 'FST_CHATWOOT_OPTIONS_INVALID' })
})

// --- Diagnostics and logs -------------------------------------------------------------------

test('every attempt is published on the diagnostics channel with its outcome and without the token', async (t) => {
  const instance = 'diagnostics-instance'
  const { sim, account, client } = await withClient(t, QUICK, { instance })
  const { displayId } = await contactWithConversation(chatwootApi(sim, account), account.inboxId, 'diag@s.whatsapp.net')
  const events: ClientCallEvent[] = []
  const listener = (message: unknown) => {
    if ((message as ClientCallEvent).instance === instance) events.push(message as ClientCallEvent)
  }
  subscribe(CLIENT_CHANNEL, listener)
  t.teardown(() => unsubscribe(CLIENT_CHANNEL, listener))

  sim.faults.add({ method: 'GET', path: /\/inboxes$/, resetBeforeCommit: true })
  await client.listInboxes()
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 500 })
  await client.createMessage(displayId, { content: 'observed', message_type: 'incoming' })

  const base = `/api/v1/accounts/${account.accountId}`
  t.match(events, [
    { operation: 'listInboxes', method: 'GET', path: `${base}/inboxes`, statusCode: undefined, attempt: 1, error: 'FST_CHATWOOT_NETWORK' },
    { operation: 'listInboxes', method: 'GET', path: `${base}/inboxes`, statusCode: 200, attempt: 2, error: undefined },
    { operation: 'createMessage', method: 'POST', path: `${base}/conversations/${displayId}/messages`, statusCode: 500, attempt: 1, error: 'FST_CHATWOOT_SERVER' },
    { operation: 'listMessages', method: 'GET', path: `${base}/conversations/${displayId}/messages`, statusCode: 200, error: undefined },
    { operation: 'createMessage', method: 'POST', path: `${base}/conversations/${displayId}/messages`, statusCode: 200, attempt: 2, error: undefined }
  ])
  t.equal(events.length, 5)
  for (const event of events) {
    t.equal(event.instance, instance)
    t.equal(typeof event.durationMs, 'number')
    t.ok(event.durationMs >= 0, `durationMs ${event.durationMs}`)
    t.equal(typeof event.attempt, 'number')
    t.notOk(JSON.stringify(event).includes(account.token), 'no token in the event')
  }
})

test('a failing call is published with its error code and the token appears nowhere', async (t) => {
  const instance = 'diagnostics-failure'
  const { sim, account, client } = await withClient(t, { maxRetries: 0 }, { instance })
  const events: ClientCallEvent[] = []
  const listener = (message: unknown) => {
    if ((message as ClientCallEvent).instance === instance) events.push(message as ClientCallEvent)
  }
  subscribe(CLIENT_CHANNEL, listener)
  t.teardown(() => unsubscribe(CLIENT_CHANNEL, listener))
  sim.faults.add({ method: 'GET', path: /\/inboxes$/, status: 404 })
  const error = await failure(client.listInboxes()) as ChatwootError
  t.equal(error.code, 'FST_CHATWOOT_NOT_FOUND')
  t.match(events, [{ operation: 'listInboxes', statusCode: 404, attempt: 1, error: 'FST_CHATWOOT_NOT_FOUND' }])
  t.equal(events.length, 1)
  t.notOk(JSON.stringify(events).includes(account.token), 'no token in the events')
  t.notOk(JSON.stringify(error).includes(account.token), 'no token in the error')
  t.notOk(String(error.message).includes(account.token), 'no token in the message')
  t.notOk(String(error.stack).includes(account.token), 'no token in the stack')
})

test('retries, hook retries and refused hook retries are logged at debug level without the token', async (t) => {
  const lines: Array<{ object: object, message: string }> = []
  const logger = { debug (object: object, message: string) { lines.push({ object, message }) } }
  const { sim, account, client, deletedId, others: [otherId] } = await withDeletedConversation(t, 2, { logger, instance: 'logged' })

  sim.faults.add({ method: 'GET', path: /\/inboxes$/, status: 500 })
  await client.listInboxes()
  const retrying = lines.filter((line) => line.message === 'chatwoot call failed, retrying')
  t.equal(retrying.length, 1)
  t.match(retrying[0]?.object, { instance: 'logged', operation: 'listInboxes', attempt: 1, code: 'FST_CHATWOOT_SERVER', statusCode: 500 })
  t.equal(typeof (retrying[0]?.object as { waitMs?: unknown }).waitMs, 'number')

  let redirect = otherId
  client.addHook('onError', () => ({ retry: { conversationId: redirect } }))
  await client.createMessage(deletedId, { content: 'logged redirect' })
  const redirected = lines.filter((line) => line.message === 'chatwoot call retried by an onError hook')
  t.equal(redirected.length, 1)
  t.match(redirected[0]?.object, { instance: 'logged', operation: 'createMessage', code: 'FST_CHATWOOT_NOT_FOUND' })

  redirect = deletedId
  await t.rejects(client.createMessage(deletedId, { content: 'logged refusal' }), { code: 'FST_CHATWOOT_NOT_FOUND' })
  const refused = lines.filter((line) => line.message.startsWith('chatwoot onError hook retry refused'))
  t.equal(refused.length, 1)
  t.match(refused[0]?.object, { instance: 'logged', operation: 'createMessage', code: 'FST_CHATWOOT_NOT_FOUND' })

  t.ok(lines.length >= 4)
  for (const line of lines) {
    t.notOk(JSON.stringify(line.object).includes(account.token) || line.message.includes(account.token), `no token in "${line.message}"`)
  }
})
