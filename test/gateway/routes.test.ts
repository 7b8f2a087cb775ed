// examples/gateway: POST /instances and POST /instances/:instance/messages, through buildGateway
// on a fresh gateway database, real Redis and the Chatwoot simulator.
import { test } from 'tap'
import {
  addInstance, answerOf, EMPTY, instanceBody, message, postMessage, setup, storedMessages, tally
} from './fixture.js'

test('POST /instances adds an instance without echoing its secrets, and a changed token takes effect at the next message', async (t) => {
  const { sim, account, app } = await setup(t)
  const databaseUrl = 'postgres://gateway:db-pass-4417@127.0.0.1:5432/chatwoot'

  const added = await app.inject({ method: 'POST', url: '/instances', payload: instanceBody(sim, account, { databaseUrl }) })
  t.equal(added.statusCode, 201, 'a new instance answers 201')
  t.same(added.json(), { name: 'acme', chatwootUrl: sim.url, accountId: account.accountId, inboxId: account.inboxId, hasDatabase: true, hasWebhookSecret: false },
    'the answer says what was stored, and only that')
  t.notOk(added.body.includes(account.token), 'the token appears nowhere in the raw answer')
  t.notOk(added.body.includes('db-pass-4417') || added.body.includes(databaseUrl), 'nor the database URL or its password')
  const [row] = (await app.pg.query('SELECT token, database_url FROM instances WHERE name = $1', ['acme'])).rows
  t.strictSame(row, { token: account.token, database_url: databaseUrl }, 'the gateway\'s table holds both')

  // Without a database the instance works as is (the URL above points nowhere useful): store it again without.
  const replaced = await app.inject({ method: 'POST', url: '/instances', payload: instanceBody(sim, account) })
  t.equal(replaced.statusCode, 200, 'replacing an existing instance answers 200')
  t.equal(replaced.json().hasDatabase, false)
  const first = await postMessage(app, message('alice', 'first'))
  t.equal(first.statusCode, 200, 'delivered with the stored settings')

  const wrongToken = 'wrong-token-93c1d'
  const changed = await app.inject({ method: 'POST', url: '/instances', payload: instanceBody(sim, account, { token: wrongToken }) })
  t.equal(changed.statusCode, 200, 'a changed token answers 200')
  t.notOk(changed.body.includes(wrongToken), 'the new token is not echoed either')
  sim.requests.length = 0
  const refused = await postMessage(app, message('alice', 'with the wrong token'))
  t.equal(refused.statusCode, 502, 'the next message uses the new (wrong) token at once: Chatwoot refuses it')
  t.match(refused.json(), { statusCode: 502, code: 'FST_CHATWOOT_UNAUTHORIZED', error: 'Bad Gateway' })
  t.notOk(refused.body.includes(wrongToken) || refused.body.includes(account.token), 'no token in the error answer')
  t.not(sim.requests.length, 0, 'the refused message did reach Chatwoot')
  t.ok(sim.requests.every((request) => request.status === 401), 'and every call it made was refused with 401')

  const back = await app.inject({ method: 'POST', url: '/instances', payload: instanceBody(sim, account) })
  t.equal(back.statusCode, 200)
  const delivered = await postMessage(app, message('alice', 'token fixed'))
  t.equal(delivered.statusCode, 200, 'changed back: delivered')
  t.same((await storedMessages(sim, account)).map((stored) => stored.content), ['first', 'token fixed'],
    'only the two accepted messages are stored')
})

test('bad instance payloads answer 400 naming the field, and store nothing', async (t) => {
  const { sim, account, app } = await setup(t)
  const good = instanceBody(sim, account)
  const { name: _name, ...withoutName } = good
  const { token: _token, ...withoutToken } = good
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['missing name', withoutName, 'body.name'],
    ['missing token', withoutToken, 'body.token'],
    ['name with a space', { ...good, name: 'my instance' }, 'body.name'],
    ['name starting with a dot', { ...good, name: '.hidden' }, 'body.name'],
    ['name of 65 characters', { ...good, name: 'a'.repeat(65) }, 'body.name'],
    ['non-http Chatwoot URL', { ...good, chatwootUrl: 'ftp://chat.example.com' }, 'body.chatwootUrl'],
    ['URL with a space', { ...good, chatwootUrl: 'http://chat example.com' }, 'body.chatwootUrl'],
    ['account id 0', { ...good, accountId: 0 }, 'body.accountId'],
    ['fractional inbox id', { ...good, inboxId: 1.5 }, 'body.inboxId'],
    ['empty token', { ...good, token: '' }, 'body.token'],
    ['token of 513 characters', { ...good, token: 'x'.repeat(513) }, 'body.token'],
    ['a MySQL database URL', { ...good, databaseUrl: 'mysql://db/chatwoot' }, 'body.databaseUrl'],
    ['an unknown property', { ...good, webhook: 'http://x' }, 'body.webhook']
  ]
  for (const [what, payload, field] of cases) {
    const answer = await app.inject({ method: 'POST', url: '/instances', payload })
    t.equal(answer.statusCode, 400, `${what}: 400`)
    t.match(answer.json(), { code: 'GATEWAY_VALIDATION', field, message: new RegExp(`^${field.replaceAll('.', '\\.')} `) }, `${what}: field ${field}`)
  }
  // Shapes the schema accepts but the library refuses: checked before storing, never echoed.
  for (const [what, chatwootUrl] of [['a URL without a host', 'http://'], ['a URL with credentials', 'http://user:hunter2@chat.example.com']]) {
    const answer = await app.inject({ method: 'POST', url: '/instances', payload: { ...good, chatwootUrl } })
    t.equal(answer.statusCode, 400, `${what}: 400`)
    t.match(answer.json(), { code: 'GATEWAY_FIELD_INVALID', field: 'body.chatwootUrl', message: /^body\.chatwootUrl must/ }, `${what}: field body.chatwootUrl`)
    t.notMatch(answer.body, /hunter2/, `${what}: the URL is not echoed`)
  }
  t.same((await app.pg.query('SELECT name FROM instances')).rows, [], 'no instance stored')
})

test('a message is delivered once into its conversation; the next one of the contact is a cache hit there', async (t) => {
  const { sim, account, app } = await setup(t)
  await addInstance(app, sim, account)

  const first = answerOf(await postMessage(app, message('5511999990001@s.whatsapp.net', 'Hello!')))
  t.equal(first.status, 200)
  t.match(first.body, { messageId: Number, conversationId: Number, contactId: Number, sourceId: String, cache: 'miss', recovered: false, deduplicated: false })
  t.same(Object.keys(first.body).sort(), ['cache', 'contactId', 'conversationId', 'deduplicated', 'messageId', 'recovered', 'sourceId'])
  t.strictSame(await storedMessages(sim, account), [{
    id: first.body.messageId, content: 'Hello!', source_id: first.body.sourceId, display_id: first.body.conversationId, message_type: 0, contact_id: first.body.contactId
  }], 'the simulator holds exactly that message, once, incoming, in that conversation of that contact')
  const [contact] = await sim.query('SELECT id, identifier, name FROM contacts WHERE account_id = $1', [account.accountId])
  t.strictSame(contact, { id: first.body.contactId, identifier: '5511999990001@s.whatsapp.net', name: 'Contact 5511999990001@s.whatsapp.net' })

  sim.requests.length = 0
  const second = answerOf(await postMessage(app, message('5511999990001@s.whatsapp.net', 'Again', { source_id: 'wamid.42' })))
  t.equal(second.status, 200)
  t.match(second.body, { cache: 'hit', conversationId: first.body.conversationId, contactId: first.body.contactId, sourceId: 'wamid.42' },
    'a cache hit in the same conversation, with the caller\'s source_id')
  t.same(sim.requests.map((request) => `${request.method} ${request.path}`),
    [`POST /api/v1/accounts/${account.accountId}/conversations/${first.body.conversationId}/messages`], 'a hit costs Chatwoot one call')
  t.same((await storedMessages(sim, account)).map((row) => [row.id, row.content, row.source_id, row.display_id]), [
    [first.body.messageId, 'Hello!', first.body.sourceId, first.body.conversationId],
    [second.body.messageId, 'Again', 'wamid.42', first.body.conversationId]
  ])
  t.same(await tally(sim, account), { contacts: 1, conversations: 1, messages: 2, attachments: 0 })
})

test('a bad message answers 400 GATEWAY_VALIDATION naming the exact field, and nothing reaches Chatwoot', async (t) => {
  const { sim, account, app } = await setup(t)
  await addInstance(app, sim, account)
  sim.requests.length = 0
  const contact = { identifier: 'alice' }
  const cases: Array<[string, unknown, string]> = [
    ['contact without identifier', { contact: { name: 'Alice' }, message: { content: 'x' } }, 'body.contact.identifier'],
    ['no message', { contact }, 'body.message'],
    ['content of 150001 characters', { contact, message: { content: 'x'.repeat(150_001) } }, 'body.message.content'],
    ['empty content', { contact, message: { content: '' } }, 'body.message.content'],
    ['phone number without +', { contact: { ...contact, phone_number: '5511999990001' }, message: { content: 'x' } }, 'body.contact.phone_number'],
    ['phone number with letters', { contact: { ...contact, phone_number: '+55 11 9999' }, message: { content: 'x' } }, 'body.contact.phone_number'],
    ['bad email', { contact: { ...contact, email: 'not-an-email' }, message: { content: 'x' } }, 'body.contact.email'],
    ['extra message property', { contact, message: { content: 'x', echo: true } }, 'body.message.echo'],
    ['extra contact property', { contact: { ...contact, vip: true }, message: { content: 'x' } }, 'body.contact.vip'],
    ['extra top-level property', { contact, message: { content: 'x' }, instance: 'other' }, 'body.instance'],
    ['contact as a string', { contact: 'alice', message: { content: 'x' } }, 'body.contact'],
    ['content as an object', { contact, message: { content: { text: 'x' } } }, 'body.message.content'],
    ['private as a word', { contact, message: { content: 'x', private: 'yes' } }, 'body.message.private'],
    ['unknown message_type', { contact, message: { content: 'x', message_type: 'template' } }, 'body.message.message_type'],
    // Refused, not coerced: `true` must not reach Chatwoot as the text "true".
    ['content as a boolean', { contact, message: { content: true } }, 'body.message.content'],
    ['content as an array', { contact, message: { content: ['solo'] } }, 'body.message.content'],
    ['identifier as a number', { contact: { identifier: 7 }, message: { content: 'x' } }, 'body.contact.identifier']
  ]
  for (const [what, payload, field] of cases) {
    const answer = answerOf(await postMessage(app, payload))
    t.equal(answer.status, 400, `${what}: 400`)
    t.same(Object.keys(answer.body).sort(), ['code', 'error', 'field', 'message', 'statusCode'], `${what}: the documented answer shape`)
    t.match(answer.body, { statusCode: 400, code: 'GATEWAY_VALIDATION', error: 'Bad Request', field }, `${what}: field ${field}`)
  }
  t.same(sim.requests, [], 'no request reached the simulator')
  t.same(await tally(sim, account), EMPTY, 'and its tables are empty')
  t.equal(app.chatwoot.stats().deliveries, 0, 'no delivery was even started')
})

test('an unknown instance answers 404, an invalid instance name 400, before anything reaches Chatwoot', async (t) => {
  const { sim, account, app } = await setup(t)
  await addInstance(app, sim, account)
  sim.requests.length = 0

  for (const route of ['messages', 'media']) {
    const answer = await app.inject({ method: 'POST', url: `/instances/nobody/${route}`, payload: message('alice', 'x') })
    t.equal(answer.statusCode, 404, `${route}: 404`)
    t.match(answer.json(), { statusCode: 404, code: 'FST_CHATWOOT_INSTANCE_NOT_FOUND', error: 'Not Found', message: /"nobody"/ })
  }
  for (const name of ['-dash', 'a*b', 'a:b', '{acme}', 'a'.repeat(65), 'é']) {
    const answer = await app.inject({ method: 'POST', url: `/instances/${encodeURIComponent(name)}/messages`, payload: message('alice', 'x') })
    t.equal(answer.statusCode, 400, `${JSON.stringify(name.slice(0, 10))}: 400`)
    t.match(answer.json(), { code: 'GATEWAY_VALIDATION', field: 'params.instance' })
  }
  t.same(sim.requests, [], 'nothing reached the simulator')
  t.same(await tally(sim, account), EMPTY)
})
