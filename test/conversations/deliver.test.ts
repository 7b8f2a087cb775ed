import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { Readable } from 'node:stream'
import { test } from 'tap'
import {
  CONVERSATIONS_CHANNEL, type ConversationEvent, type DeliveryContact, type DeliveryInput, type DeliveryResult
} from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { appWithLogs } from '../helpers/app.js'
import { failure, gateway, instanceOf } from '../helpers/gateway.js'
import { conversationKey } from '../helpers/keys.js'
import { contactWithConversation, simulatedAccount } from '../helpers/simulator.js'

const contact = (identifier: string): DeliveryContact => ({ identifier, name: `Contact ${identifier}` })
const range = (length: number) => Array.from({ length }, (_, index) => index)

/** One attachment whose bytes come from a fresh stream at every attempt. */
const attachment = () => [{ filename: 'x.txt', contentType: 'text/plain', data: () => Readable.from([Buffer.from('x')]) }]

/** Row counts of one account in the simulator's tables. */
async function tally (sim: ChatwootSimulator, account: CreatedAccount) {
  const [row] = await sim.query<{ contacts: number, contactInboxes: number, conversations: number, messages: number, attachments: number }>(
    `SELECT (SELECT count(*)::int FROM contacts WHERE account_id = $1) AS contacts,
            (SELECT count(*)::int FROM contact_inboxes WHERE inbox_id = $2) AS "contactInboxes",
            (SELECT count(*)::int FROM conversations WHERE account_id = $1) AS conversations,
            (SELECT count(*)::int FROM messages WHERE account_id = $1) AS messages,
            (SELECT count(*)::int FROM attachments WHERE account_id = $1) AS attachments`,
    [account.accountId, account.inboxId])
  return row
}

/** Source ids stored more than once in the account. */
async function duplicates (sim: ChatwootSimulator, account: CreatedAccount) {
  return sim.query<{ source_id: string, count: number }>(
    `SELECT source_id, count(*)::int AS count FROM messages WHERE account_id = $1
      GROUP BY source_id HAVING count(*) > 1`, [account.accountId])
}

/** The messages of one conversation (by display id), in id order, with their attachment counts. */
async function messagesOf (sim: ChatwootSimulator, account: CreatedAccount, displayId: number) {
  return sim.query<{ id: number, content: string | null, source_id: string | null, attachments: number }>(
    `SELECT m.id, m.content, m.source_id, (SELECT count(*)::int FROM attachments a WHERE a.message_id = m.id) AS attachments
       FROM messages m JOIN conversations c ON c.id = m.conversation_id
      WHERE c.account_id = $1 AND c.display_id = $2 ORDER BY m.id`, [account.accountId, displayId])
}

async function statusOf (sim: ChatwootSimulator, account: CreatedAccount, displayId: number) {
  const [row] = await sim.query<{ status: number }>(
    'SELECT status FROM conversations WHERE account_id = $1 AND display_id = $2', [account.accountId, displayId])
  return row?.status
}

const messagePosts = (sim: ChatwootSimulator, account: CreatedAccount, displayId?: number) => sim.requests.filter((request) =>
  request.method === 'POST' && (displayId === undefined
    ? /\/conversations\/\d+\/messages$/.test(request.path)
    : request.path === `/api/v1/accounts/${account.accountId}/conversations/${displayId}/messages`))

const messageReads = (sim: ChatwootSimulator) => sim.requests.filter((request) => request.method === 'GET' && /\/messages$/.test(request.path))

test('a burst of 500 concurrent deliveries for a new contact: one contact, one conversation, 500 messages in call order', async (t) => {
  const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 1000 })
  const { app, redis, keyPrefix } = await gateway(t, { instances: { acme: instanceOf(sim, account) } })

  const results = await Promise.all(range(500).map((index) =>
    app.chatwoot.deliver('acme', { contact: contact('burst'), message: { content: `m${index}` } })))

  t.same(await tally(sim, account), { contacts: 1, contactInboxes: 1, conversations: 1, messages: 500, attachments: 0 },
    'exactly 1 contact, 1 contact_inbox, 1 conversation and 500 messages')
  t.same(await duplicates(sim, account), [], 'no source_id stored twice')
  const conversationId = results[0]!.conversationId
  const stored = await messagesOf(sim, account, conversationId)
  t.same(stored.map((row) => row.content), range(500).map((index) => `m${index}`), 'the messages\' ids follow the call order')
  t.same(results.map((result) => result.message.id), stored.map((row) => row.id), 'each result is its own stored message')
  t.same(results.map((result) => result.cache), ['miss', ...range(499).map(() => 'hit')], 'one miss, then hits')
  t.same(new Set(results.map((result) => result.conversationId)), new Set([conversationId]), 'all in one conversation')
  const [row] = await sim.query<{ id: number }>('SELECT id FROM contacts WHERE account_id = $1', [account.accountId])
  t.same(new Set(results.map((result) => result.contactId)), new Set([row!.id]), 'all for the one contact')
  t.notOk(results.some((result) => result.recovered || result.deduplicated), 'nothing recovered or deduplicated')
  t.equal(sim.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/conversations')).length, 1,
    'one conversation create sent')
  t.equal(await redis!.get(await conversationKey(sim, keyPrefix, 'acme', account, 'burst')), `${conversationId}:${row!.id}:burst`,
    'the id is shared through Redis as displayId:contactId:who (the contact\'s identifier as Chatwoot holds it)')
  t.match(app.chatwoot.stats(), { deliveries: 500, hits: 499, misses: 1, creates: 1, recoveries: 0, evictions: 0, failures: 0 })
})

for (const multipart of [false, true]) {
  test(`a deleted conversation: 300 concurrent deliveries recover into exactly one new conversation${multipart ? ' (multipart)' : ''}`, async (t) => {
    const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 1000 })
    const { app, redis, keyPrefix } = await gateway(t, { instances: { acme: instanceOf(sim, account) } })
    const message = (content: string, sourceId: string): DeliveryInput['message'] =>
      multipart ? { content, source_id: sourceId, attachments: attachment() } : { content, source_id: sourceId }

    const before = await app.chatwoot.deliver('acme', { contact: contact('gone'), message: message('before', 'before') })
    t.ok(await sim.deleteConversation(account.accountId, before.conversationId), 'the cached conversation is deleted')
    sim.requests.length = 0

    const results = await Promise.all(range(300).map((index) =>
      app.chatwoot.deliver('acme', { contact: contact('gone'), message: message(`m${index}`, `s${index}`) })))

    t.same(await tally(sim, account),
      { contacts: 1, contactInboxes: 1, conversations: 1, messages: 300, attachments: multipart ? 300 : 0 },
      'one new conversation (the contact and its contact_inbox kept) with the 300 messages')
    t.same(await duplicates(sim, account), [], '0 duplicates')
    const fresh = results[0]!.conversationId
    t.not(fresh, before.conversationId, 'a new conversation')
    t.same(new Set(results.map((result) => result.conversationId)), new Set([fresh]), 'every result names the new conversation')
    t.equal(results.filter((result) => result.recovered).length, 1, 'exactly one result recovered')
    t.equal(results[0]!.recovered, true, 'the first delivery in call order met the 404 and recovered')
    const stored = await messagesOf(sim, account, fresh)
    t.same(stored.map((row) => row.content), range(300).map((index) => `m${index}`), 'all 300 in it, in call order')
    if (multipart) t.ok(stored.every((row) => row.attachments === 1), 'each message has its one attachment')
    t.equal(messagePosts(sim, account, before.conversationId).length, 1, 'one post only went to the gone conversation')
    t.equal(await redis!.get(await conversationKey(sim, keyPrefix, 'acme', account, 'gone')), `${fresh}:${before.contactId}:gone`, 'Redis holds the new id')
    t.match(app.chatwoot.stats(), { recoveries: 1, evictions: 1, creates: 2, failures: 0 })
  })
}

test('a wrong account id fails with a coded error and evicts nothing', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const table = { acme: instanceOf(sim, account) }
  const { app, redis, keyPrefix } = await gateway(t, { instances: table })
  const cached = await app.chatwoot.deliver('acme', { contact: contact('wrong'), message: { content: 'before' } })

  // The account exists, but the instance's token (an admin of `account`) is not in it.
  table.acme = { chatwoot: { ...table.acme.chatwoot, accountId: other.accountId } }
  app.chatwootInstances.invalidate('acme')
  const refused = await Promise.allSettled(range(50).map((index) =>
    app.chatwoot.deliver('acme', { contact: contact(index % 2 === 0 ? 'wrong' : `new-${index}`), message: { content: `m${index}` } })))
  t.same(new Set(refused.map((outcome) => outcome.status === 'rejected' ? (outcome.reason as { code?: string }).code : 'delivered')),
    new Set(['FST_CHATWOOT_UNAUTHORIZED']), 'all 50 fail with FST_CHATWOOT_UNAUTHORIZED')
  t.equal(app.chatwoot.stats().evictions, 0, 'no eviction')
  t.same(await tally(sim, other), { contacts: 0, contactInboxes: 0, conversations: 0, messages: 0, attachments: 0 }, 'nothing made there')

  // An account that does not exist.
  table.acme = { chatwoot: { ...table.acme.chatwoot, accountId: 999_999 } }
  app.chatwootInstances.invalidate('acme')
  const missing = await Promise.allSettled(range(50).map((index) =>
    app.chatwoot.deliver('acme', { contact: contact(index % 2 === 0 ? 'wrong' : `new-${index}`), message: { content: `m${index}` } })))
  t.same(new Set(missing.map((outcome) => outcome.status === 'rejected' ? (outcome.reason as { code?: string }).code : 'delivered')),
    new Set(['FST_CHATWOOT_NOT_FOUND']), 'all 50 fail with FST_CHATWOOT_NOT_FOUND')
  t.equal(app.chatwoot.stats().evictions, 0, 'still no eviction')
  t.equal(app.chatwoot.stats().failures, 100, 'every failed delivery is counted, also those that failed finding the conversation')

  t.equal(await redis!.get(await conversationKey(sim, keyPrefix, 'acme', account, 'wrong')), `${cached.conversationId}:${cached.contactId}:wrong`,
    'the right account\'s cached conversation is untouched')
  table.acme = instanceOf(sim, account)
  app.chatwootInstances.invalidate('acme')
  const back = await app.chatwoot.deliver('acme', { contact: contact('wrong'), message: { content: 'after' } })
  t.match(back, { cache: 'hit', conversationId: cached.conversationId, recovered: false }, 'back on the right account: the cached conversation at once')
  t.same(await tally(sim, account), { contacts: 1, contactInboxes: 1, conversations: 1, messages: 2, attachments: 0 })
})

test('an instance switched to another account never posts the first account\'s cached id there', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const other = await sim.createAccount()
  const table = { acme: instanceOf(sim, account) }
  const { app, redis, keyPrefix } = await gateway(t, { instances: table, conversations: { breaker: { failures: 3 } } })
  const first = await app.chatwoot.deliver('acme', { contact: contact('moved'), message: { content: 'in A' } })

  table.acme = instanceOf(sim, other)
  app.chatwootInstances.invalidate('acme')
  sim.requests.length = 0
  const results = []
  for (const index of range(20)) results.push(await app.chatwoot.deliver('acme', { contact: contact('moved'), message: { content: `in B ${index}` } }))

  t.equal(results[0]!.cache, 'miss', 'the other account is another cache entry')
  t.match(sim.requests.filter((request) => request.method !== 'GET' || !request.path.endsWith('/inboxes'))[0],
    { method: 'POST', path: `/api/v1/accounts/${other.accountId}/contacts/filter` },
    'the first call after the switch (once the inbox\'s identity is read) looks for the contact: no post of the cached id first')
  t.equal(sim.requests.filter((request) => request.path.startsWith(`/api/v1/accounts/${account.accountId}/`)).length, 0,
    'nothing sent to the first account')
  t.same(new Set(results.map((result) => result.conversationId)).size, 1, 'one conversation in the other account')
  t.notOk(results.some((result) => result.recovered), 'nothing to recover')
  t.equal(app.chatwoot.stats().evictions, 0, 'no eviction')
  t.same(await tally(sim, other), { contacts: 1, contactInboxes: 1, conversations: 1, messages: 20, attachments: 0 })
  t.same(await tally(sim, account), { contacts: 1, contactInboxes: 1, conversations: 1, messages: 1, attachments: 0 }, 'the first account untouched')
  t.equal(await redis!.get(await conversationKey(sim, keyPrefix, 'acme', account, 'moved')), `${first.conversationId}:${first.contactId}:moved`,
    'the first account\'s entry stays')
})

test('cached ids are never tried at a wrong URL: the URL is part of the key, so nothing is evicted and all comes back when fixed', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const table = { acme: instanceOf(sim, account) }
  const { app, redis, keyPrefix } = await gateway(t, { instances: table, conversations: { breaker: { failures: 3 } } })
  const names = range(20).map((index) => `c${index}`)
  const cached = await Promise.all(names.map((name) => app.chatwoot.deliver('acme', { contact: contact(name), message: { content: 'before' } })))

  // Same account id, but every path now answers 404.
  table.acme = instanceOf(sim, account)
  table.acme.chatwoot.url = `${sim.url}/not-chatwoot`
  app.chatwootInstances.invalidate('acme')
  sim.requests.length = 0
  const codes = []
  for (const name of names) codes.push((await failure(app.chatwoot.deliver('acme', { contact: contact(name), message: { content: 'lost' } }))).code)
  t.same(new Set(codes), new Set(['FST_CHATWOOT_NOT_FOUND']), 'every delivery fails with FST_CHATWOOT_NOT_FOUND')
  t.equal(sim.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/messages')).length, 0,
    'no cached conversation id was posted to at the other URL')
  t.equal(app.chatwoot.stats().evictions, 0, 'nothing evicted')
  const kept = (await Promise.all(names.map(async (name) => redis!.get(await conversationKey(sim, keyPrefix, 'acme', account, name))))).filter((value) => value !== null)
  t.equal(kept.length, 20, 'every cached conversation is kept')

  table.acme = instanceOf(sim, account)
  app.chatwootInstances.invalidate('acme')
  const healed = await Promise.all(names.map((name) => app.chatwoot.deliver('acme', { contact: contact(name), message: { content: 'after' } })))
  t.same(healed.map((result) => result.conversationId), cached.map((result) => result.conversationId), 'fixed: every contact back in its conversation')
  t.equal(healed.filter((result) => result.cache === 'hit').length, 20, 'all from the cache')
  t.same(await tally(sim, account), { contacts: 20, contactInboxes: 20, conversations: 20, messages: 40, attachments: 0 })
})

test('a conversation Chatwoot still lists but answers 404 for: evictions stop once the breaker opens', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { breaker: { failures: 3 } } })
  const first = await app.chatwoot.deliver('acme', { contact: contact('ghost'), message: { content: 'before' } })
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 404, times: Infinity })

  const evictions: number[] = []
  for (const index of range(20)) {
    const error = await failure(app.chatwoot.deliver('acme', { contact: contact('ghost'), message: { content: `m${index}` } }))
    t.equal(error.code, 'FST_CHATWOOT_NOT_FOUND', `delivery ${index} fails with FST_CHATWOOT_NOT_FOUND`)
    evictions.push(app.chatwoot.stats().evictions)
  }
  sim.faults.clear()
  const total = evictions.at(-1)!
  t.ok(total >= 1, `recovery was tried (${total} evictions)`)
  t.equal(evictions[2], total, `no eviction after the breaker opened (after each delivery: ${evictions.join(',')})`)
  t.ok(total <= 3, `evictions (${total}) bounded by the breaker (failures: 3)`)
  t.same(await tally(sim, account), { contacts: 1, contactInboxes: 1, conversations: 1, messages: 1, attachments: 0 }, 'no conversation made beside it')
  const after = await app.chatwoot.deliver('acme', { contact: contact('ghost'), message: { content: 'after' } })
  t.equal(after.conversationId, first.conversationId, 'once Chatwoot answers again, the same conversation')
})

for (const lookup of ['api', 'database'] as const) {
  test(`a message post whose answer is lost is not posted again (lookup through the ${lookup})`, async (t) => {
    const { sim, account } = await simulatedAccount(t)
    const { app } = await gateway(t, {
      instances: { acme: instanceOf(sim, account, lookup === 'database' ? { database: sim.databaseUrl } : {}) },
      postgres: lookup === 'database'
    })
    const before = await app.chatwoot.deliver('acme', { contact: contact('drop'), message: { content: 'before' } })
    sim.requests.length = 0
    sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })

    const result = await app.chatwoot.deliver('acme', { contact: contact('drop'), message: { content: 'dropped', source_id: 'drop-1' } })
    t.equal(sim.requests[0]?.fault, 'dropAfterCommit', 'the first post was stored and its answer lost')
    t.equal(result.deduplicated, true, 'result.deduplicated')
    t.same(await duplicates(sim, account), [], '0 duplicate messages')
    const stored = await messagesOf(sim, account, before.conversationId)
    t.same(stored.map((row) => row.source_id), [before.message.source_id, 'drop-1'], 'stored once')
    t.match(result.message, { id: stored[1]!.id, source_id: 'drop-1', conversation_id: before.conversationId }, 'the stored message is answered')
    t.equal(messagePosts(sim, account).length, 1, 'posted once')
    if (lookup === 'database') {
      t.same(messageReads(sim), [], 'the lookup read the database, not GET .../messages')
    } else {
      t.ok(messageReads(sim).length >= 1, 'the lookup read GET .../messages')
    }
    t.match(app.chatwoot.stats(), { dedupes: 1, failures: 0 })
  })
}

test('an instance database that cannot be reached: the check before re-sending asks the API instead', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app: logged, logs } = appWithLogs()
  const unreachable = sim.databaseUrl.replace(/\/[^/]*$/, '/fcw_no_such_database')
  const { app } = await gateway(t, { app: logged, instances: { acme: instanceOf(sim, account, { database: unreachable }) }, postgres: true })
  await app.chatwoot.deliver('acme', { contact: contact('db-down'), message: { content: 'before' } })
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  const result = await app.chatwoot.deliver('acme', { contact: contact('db-down'), message: { content: 'dropped', source_id: 'db-down-1' } })
  t.equal(result.deduplicated, true, 'still found, through the API')
  t.same(await duplicates(sim, account), [], '0 duplicate messages')
  await logs.waitFor(/asking the API instead/)
  t.notOk(logs.lines.some((line) => line.includes(account.token)), 'no token in the logs')
})

test('a fresh id written by another worker survives a stale eviction (compare-and-delete)', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const table = { acme: instanceOf(sim, account) }
  const one = await gateway(t, { instances: table })
  const two = await gateway(t, { instances: table, conversations: { keyPrefix: one.keyPrefix } })
  const key = await conversationKey(sim, one.keyPrefix, 'acme', account, 'cad')

  const a = await one.app.chatwoot.deliver('acme', { contact: contact('cad'), message: { content: 'first' } })
  t.equal(await one.redis!.get(key), `${a.conversationId}:${a.contactId}:cad`, 'A cached in Redis')
  const seen = await two.app.chatwoot.deliver('acme', { contact: contact('cad'), message: { content: 'second' } })
  t.match(seen, { cache: 'hit', conversationId: a.conversationId }, 'the second process holds A too')

  // Another worker moved the contact to conversation B and wrote it, without the second process hearing of it.
  const [contactInbox] = await sim.query<{ source_id: string }>('SELECT source_id FROM contact_inboxes WHERE contact_id = $1', [a.contactId])
  const created = await call('POST', '/conversations', { body: { contact_id: a.contactId, inbox_id: account.inboxId, source_id: contactInbox!.source_id } })
  t.equal(created.status, 200)
  const b: number = created.body.id
  await one.redis!.set(key, `${b}:${a.contactId}:cad`)
  t.ok(await sim.deleteConversation(account.accountId, a.conversationId), 'A deleted')

  const recovered = await two.app.chatwoot.deliver('acme', { contact: contact('cad'), message: { content: 'third' } })
  t.equal(await one.redis!.get(key), `${b}:${a.contactId}:cad`, 'B is still in Redis')
  t.match(recovered, { conversationId: b, recovered: true }, 'the message went to B')
  t.same((await messagesOf(sim, account, b)).map((row) => row.content), ['third'], 'and landed in B')
  t.equal(two.app.chatwoot.stats().evictions, 0, 'the stale eviction deleted nothing')
  t.equal(two.app.chatwoot.stats().creates, 0, 'no get-or-create: B was read from Redis')
  t.equal((await tally(sim, account))?.conversations, 1, 'no conversation beside B')
})

test('conversations.evict(instance, contact) makes the next delivery a miss', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app, redis, keyPrefix } = await gateway(t, { instances: { acme: instanceOf(sim, account) } })
  const key = await conversationKey(sim, keyPrefix, 'acme', account, 'evicted')
  const first = await app.chatwoot.deliver('acme', { contact: contact('evicted'), message: { content: 'one' } })
  const second = await app.chatwoot.deliver('acme', { contact: contact('evicted'), message: { content: 'two' } })
  t.equal(second.cache, 'hit')

  await app.chatwoot.conversations.evict('acme', contact('evicted'))
  t.equal(await redis!.get(key), null, 'gone from Redis')
  const third = await app.chatwoot.deliver('acme', { contact: contact('evicted'), message: { content: 'three' } })
  t.equal(third.cache, 'miss', 'the next delivery is a miss')
  t.equal(third.conversationId, first.conversationId, 'and finds the open conversation again')
  t.equal(await redis!.get(key), `${first.conversationId}:${first.contactId}:evicted`, 'cached again')
  t.match(app.chatwoot.stats(), { evictions: 1, misses: 2, hits: 1, creates: 2 })
  await app.chatwoot.conversations.evict('acme', contact('nobody'))
  t.equal(app.chatwoot.stats().evictions, 1, 'evicting a contact with nothing cached evicts nothing')
})

test('idempotency \'always\': the same source_id delivered twice is stored once', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { idempotency: 'always' } })
  const first = await app.chatwoot.deliver('acme', { contact: contact('twice'), message: { content: 'hello', source_id: 'same' } })
  const second = await app.chatwoot.deliver('acme', { contact: contact('twice'), message: { content: 'hello again', source_id: 'same' } })

  t.equal(first.deduplicated, false)
  t.equal(second.deduplicated, true, 'the second is deduplicated')
  t.equal(second.message.id, first.message.id, 'and names the first one\'s message')
  t.equal(second.conversationId, first.conversationId)
  t.same((await messagesOf(sim, account, first.conversationId)).map((row) => row.content), ['hello'], 'one message')
  t.equal(messagePosts(sim, account).length, 1, 'posted once')
  t.match(app.chatwoot.stats(), { dedupes: 1, deliveries: 2 })
  const third = await app.chatwoot.deliver('acme', { contact: contact('twice'), message: { content: 'other', source_id: 'other' } })
  t.equal(third.deduplicated, false, 'another source_id is delivered')
})

test('request.chatwoot.deliver on a route with config.chatwoot', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, {
    instances: { acme: instanceOf(sim, account) },
    setup: (app) => app.post('/:instance/incoming', { config: { chatwoot: true } }, async (request) => {
      const { identifier, content } = request.body as { identifier: string, content: string }
      const result = await request.chatwoot!.deliver({ contact: contact(identifier), message: { content } })
      return { conversationId: result.conversationId, messageId: result.message.id, cache: result.cache }
    })
  })

  const response = await app.inject({ method: 'POST', url: '/acme/incoming', payload: { identifier: 'route', content: 'via route' } })
  t.equal(response.statusCode, 200, response.body)
  const body = response.json()
  const stored = await messagesOf(sim, account, body.conversationId)
  t.same(stored.map((row) => [row.id, row.content]), [[body.messageId, 'via route']], 'stored in the conversation answered')
  t.equal(body.cache, 'miss')
  const again = await app.inject({ method: 'POST', url: '/acme/incoming', payload: { identifier: 'route', content: 'again' } })
  t.match(again.json(), { conversationId: body.conversationId, cache: 'hit' })
  const unknown = await app.inject({ method: 'POST', url: '/nobody/incoming', payload: { identifier: 'route', content: 'x' } })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'FST_CHATWOOT_INSTANCE_NOT_FOUND')
})

test('without chatwootConversations, deliver rejects with FST_CHATWOOT_OPTIONS_INVALID', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, {
    instances: { acme: instanceOf(sim, account) },
    redis: false,
    conversations: false,
    setup: (app) => app.post('/:instance/incoming', { config: { chatwoot: true } }, async (request) =>
      request.chatwoot!.deliver({ contact: contact('x'), message: { content: 'x' } }))
  })
  const error = await failure(app.chatwoot.deliver('acme', { contact: contact('x'), message: { content: 'x' } }))
  t.equal(error.code, 'FST_CHATWOOT_OPTIONS_INVALID')
  t.match(error.message, /chatwootConversations/)
  const response = await app.inject({ method: 'POST', url: '/acme/incoming' })
  t.equal(response.json().code, 'FST_CHATWOOT_OPTIONS_INVALID', 'request.chatwoot.deliver too')
  t.equal(sim.requests.length, 0, 'nothing sent to Chatwoot')
})

test('without @fastify/redis: deliveries work with the in-process store, and the log says so', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app: base, logs } = appWithLogs()
  const { app } = await gateway(t, { app: base, instances: { acme: instanceOf(sim, account) }, redis: false })
  const line = JSON.parse(await logs.waitFor(/cached per process/))
  t.equal(line.level, 30, 'at info')
  t.equal(line.plugin, 'chatwootConversations')

  const results = await Promise.all(range(30).map((index) =>
    app.chatwoot.deliver('acme', { contact: contact('local'), message: { content: `m${index}` } })))
  t.same(await tally(sim, account), { contacts: 1, contactInboxes: 1, conversations: 1, messages: 30, attachments: 0 })
  t.same((await messagesOf(sim, account, results[0]!.conversationId)).map((row) => row.content), range(30).map((index) => `m${index}`))
  t.same(results.map((result) => result.cache), ['miss', ...range(29).map(() => 'hit')])

  t.ok(await sim.deleteConversation(account.accountId, results[0]!.conversationId))
  const recovered = await app.chatwoot.deliver('acme', { contact: contact('local'), message: { content: 'after delete' } })
  t.equal(recovered.recovered, true, 'recovery works with the in-process store')
  t.not(recovered.conversationId, results[0]!.conversationId)
  t.match(app.chatwoot.stats(), { evictions: 1, storeErrors: 0 })
})

test('bad input: FST_CHATWOOT_DELIVERY_INVALID (400); an unknown instance: FST_CHATWOOT_INSTANCE_NOT_FOUND', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) } })
  const message = { content: 'x' }
  const cases: Array<[string, unknown]> = [
    ['no input', undefined],
    ['no contact', { message }],
    ['a contact that is not an object', { contact: 'someone', message }],
    ['no message', { contact: contact('x') }],
    ['a message that is not an object', { contact: contact('x'), message: 'x' }],
    ['a contact without identifier', { contact: { name: 'x' }, message }],
    ['an empty identifier', { contact: { identifier: '' }, message }]
  ]
  for (const [name, input] of cases) {
    const error = await failure(app.chatwoot.deliver('acme', input as DeliveryInput))
    t.match(error, { code: 'FST_CHATWOOT_DELIVERY_INVALID', statusCode: 400 }, name)
  }
  const unknown = await failure(app.chatwoot.deliver('nobody', { contact: contact('x'), message }))
  t.match(unknown, { code: 'FST_CHATWOOT_INSTANCE_NOT_FOUND', statusCode: 404 }, 'unknown instance')
  t.equal(sim.requests.length, 0, 'nothing sent to Chatwoot')
  t.same(await tally(sim, account), { contacts: 0, contactInboxes: 0, conversations: 0, messages: 0, attachments: 0 })
})

test('reuse \'open-or-pending\' reuses an existing open or pending conversation of an existing contact', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) } })
  for (const status of ['open', 'pending'] as const) {
    const existing = await contactWithConversation(call, account.inboxId, `reuse-${status}`)
    if (status === 'pending') t.equal((await call('POST', `/conversations/${existing.displayId}/toggle_status`, { body: { status } })).status, 200)
    const result = await app.chatwoot.deliver('acme', { contact: contact(`reuse-${status}`), message: { content: status } })
    t.match(result, { conversationId: existing.displayId, contactId: existing.contactId, cache: 'miss' }, `the ${status} conversation is reused`)
    t.same((await messagesOf(sim, account, existing.displayId)).map((row) => row.content), [status])
  }
  t.same(await tally(sim, account), { contacts: 2, contactInboxes: 2, conversations: 2, messages: 2, attachments: 0 }, 'nothing new made')
})

test('a resolved conversation is not reused by default: a new one, on the existing contact_inbox', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) } })
  const existing = await contactWithConversation(call, account.inboxId, 'resolved')
  t.equal((await call('POST', `/conversations/${existing.displayId}/toggle_status`, { body: { status: 'resolved' } })).status, 200)

  const result = await app.chatwoot.deliver('acme', { contact: contact('resolved'), message: { content: 'new' } })
  t.not(result.conversationId, existing.displayId, 'a new conversation')
  t.equal(result.contactId, existing.contactId, 'for the existing contact')
  t.equal(await statusOf(sim, account, existing.displayId), 1, 'the resolved one stays resolved')
  t.equal(await statusOf(sim, account, result.conversationId), 0, 'the new one is open')
  t.same(await tally(sim, account), { contacts: 1, contactInboxes: 1, conversations: 2, messages: 1, attachments: 0 }, 'no second contact_inbox')
})

test('reopenResolved: true reopens the resolved conversation', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { reopenResolved: true } })
  const existing = await contactWithConversation(call, account.inboxId, 'reopen')
  t.equal((await call('POST', `/conversations/${existing.displayId}/toggle_status`, { body: { status: 'resolved' } })).status, 200)
  sim.requests.length = 0

  const result = await app.chatwoot.deliver('acme', { contact: contact('reopen'), message: { content: 'back' } })
  t.equal(result.conversationId, existing.displayId, 'the resolved conversation is used')
  t.equal(await statusOf(sim, account, existing.displayId), 0, 'its status is open')
  t.ok(sim.requests.some((request) => request.method === 'POST' && request.path.endsWith(`/conversations/${existing.displayId}/toggle_status`)),
    'reopened through toggle_status')
  t.same(await tally(sim, account), { contacts: 1, contactInboxes: 1, conversations: 1, messages: 1, attachments: 0 }, 'nothing new made')
})

test('createStatus \'pending\' creates pending conversations; reuse \'never\' always creates one', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const pending = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { createStatus: 'pending' } })
  const created = await pending.app.chatwoot.deliver('acme', { contact: contact('pending'), message: { content: 'p' } })
  t.equal(await statusOf(sim, account, created.conversationId), 2, 'pending')

  const never = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { reuse: 'never' } })
  const existing = await contactWithConversation(call, account.inboxId, 'never')
  const fresh = await never.app.chatwoot.deliver('acme', { contact: contact('never'), message: { content: 'n' } })
  t.not(fresh.conversationId, existing.displayId, 'the open conversation is not reused')
  t.equal(fresh.contactId, existing.contactId)
  t.same(await tally(sim, account), { contacts: 2, contactInboxes: 2, conversations: 3, messages: 2, attachments: 0 })
})

test('stats() and the diagnostics channel count hits, misses, creates, recoveries, dedupes, evictions and failures', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { metrics: instanceOf(sim, account) } })
  const events: Array<{ event: ConversationEvent, instance: string | undefined }> = []
  const listener = (message: unknown) => { events.push(message as { event: ConversationEvent, instance: string | undefined }) }
  subscribe(CONVERSATIONS_CHANNEL, listener)
  t.teardown(() => unsubscribe(CONVERSATIONS_CHANNEL, listener))
  const deliver = (content: string): Promise<DeliveryResult> => app.chatwoot.deliver('metrics', { contact: contact('counted'), message: { content } })

  const first = await deliver('miss')
  await deliver('hit')
  t.ok(await sim.deleteConversation(account.accountId, first.conversationId))
  t.equal((await deliver('recovered')).recovered, true)
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  t.equal((await deliver('deduplicated')).deduplicated, true)
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 422, body: { error: 'Validation failed: Too many messages' } })
  t.equal((await failure(deliver('refused'))).code, 'FST_CHATWOOT_TOO_MANY_MESSAGES')

  const expected = { deliveries: 5, hits: 4, misses: 1, creates: 2, recoveries: 1, dedupes: 1, misroutes: 0, lockWaits: 0, evictions: 1, storeErrors: 0, failures: 1, backfills: 0, backfillsRefused: 0 }
  const stats = app.chatwoot.stats()
  t.same(stats, expected, 'stats()')
  stats.hits = 1000
  t.equal(app.chatwoot.stats().hits, 4, 'stats() answers a copy')

  const published = (event: ConversationEvent) => events.filter((entry) => entry.event === event)
  for (const event of ['deliveries', 'hits', 'misses', 'creates', 'recoveries', 'dedupes', 'failures'] as const) {
    t.equal(published(event).length, expected[event], `${event}: one event each`)
    t.ok(published(event).every((entry) => entry.instance === 'metrics'), `${event}: named after the instance`)
  }
  t.equal(published('evictions').length, 1, 'evictions: one event')
  t.equal(published('lockWaits').length + published('storeErrors').length, 0)
})

test('a recovery in one process reaches the other process at once through pub/sub: no second 404 there', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const one = await gateway(t, { instances: { acme: instanceOf(sim, account) } })
  // The same key prefix: two workers of one gateway, each with its own in-process layer.
  const two = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { keyPrefix: one.keyPrefix } })
  const first = await one.app.chatwoot.deliver('acme', { contact: contact('shared'), message: { content: 'from one' } })
  const seen = await two.app.chatwoot.deliver('acme', { contact: contact('shared'), message: { content: 'from two' } })
  t.equal(seen.conversationId, first.conversationId, 'both processes use the same conversation')
  t.equal(seen.cache, 'hit', 'the second process found it in Redis')

  await sim.deleteConversation(account.accountId, first.conversationId)
  const recovered = await one.app.chatwoot.deliver('acme', { contact: contact('shared'), message: { content: 'recovered in one' } })
  t.equal(recovered.recovered, true, 'process one met the 404 and recovered')
  t.not(recovered.conversationId, first.conversationId)

  // Process two still holds the old id in its in-process layer, unless the announcement reached it.
  // Pub/sub is asynchronous: give it a moment (a real gateway's next message is rarely sooner).
  await new Promise((resolve) => setTimeout(resolve, 100))
  sim.requests.length = 0
  const next = await two.app.chatwoot.deliver('acme', { contact: contact('shared'), message: { content: 'from two again' } })
  t.equal(next.conversationId, recovered.conversationId, 'process two posts into the new conversation')
  t.equal(next.recovered, false, 'without a recovery of its own')
  t.same(sim.requests.filter((request) => request.status === 404), [], 'it never met the 404')
  t.equal(two.app.chatwoot.stats().recoveries, 0, 'no recovery in process two')
})
