import { randomBytes } from 'node:crypto'
import { test } from 'tap'
import { chatwootApi, contactWithConversation, NOT_FOUND, simulatedAccount, startSimulator } from '../helpers/simulator.js'

// Chatwoot's error bodies, as CONTRACT.md ("Error responses") gives them.
const SIGN_IN = { errors: ['You need to sign in or sign up before continuing.'] }
const INVALID_TOKEN = { error: 'Invalid Access Token' }
const NO_BOTS = { error: 'Access to this endpoint is not authorized for bots' }
const NOT_IN_ACCOUNT = { error: 'You are not authorized to access this account' }
const NOT_ALLOWED = { error: 'You are not authorized to do this action' }

async function count (sim: { query: (text: string) => Promise<any[]> }, table: string): Promise<number> {
  const [row] = await sim.query(`SELECT count(*)::int AS count FROM ${table}`)
  return row.count
}

test('a request without the api_access_token header gets Devise\'s 401 errors array', async (t) => {
  const { call } = await simulatedAccount(t)
  for (const [method, path] of [['GET', '/inboxes'], ['GET', '/conversations'], ['POST', '/conversations'], ['GET', '/contacts/search?q=a']]) {
    const answer = await call(method!, path!, { token: null, body: method === 'POST' ? {} : undefined })
    t.equal(answer.status, 401, `${method} ${path}`)
    t.same(answer.body, SIGN_IN, `${method} ${path}`)
  }
  const empty = await call('GET', '/inboxes', { token: '' })
  t.equal(empty.status, 401, 'an empty header is no token')
  t.same(empty.body, SIGN_IN)
})

test('an unknown token gets 401 Invalid Access Token, even on an account that does not exist', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const unknown = randomBytes(18).toString('base64url')
  const answer = await call('GET', '/inboxes', { token: unknown })
  t.equal(answer.status, 401)
  t.same(answer.body, INVALID_TOKEN)
  const elsewhere = await chatwootApi(sim, account, account.accountId + 1000)('GET', '/inboxes', { token: unknown })
  t.equal(elsewhere.status, 401, 'the token is checked before the account')
  t.same(elsewhere.body, INVALID_TOKEN)
})

test('a bot token on an endpoint not open to bots gets the bots 401 body', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { contactId, displayId } = await contactWithConversation(call, account.inboxId, 'bot-refused@s.whatsapp.net')
  const refused: Array<[string, string, unknown?]> = [
    ['GET', '/inboxes'],
    ['GET', '/contacts/search?q=bot'],
    ['GET', '/conversations'],
    ['GET', `/conversations/${displayId}`],
    ['GET', `/conversations/${displayId}/messages`],
    ['GET', `/contacts/${contactId}/conversations`],
    ['POST', '/contacts', { name: 'made by a bot' }],
    ['POST', '/contacts/filter', { payload: [{ attribute_key: 'name', filter_operator: 'contains', values: ['a'] }] }],
    ['POST', `/contacts/${contactId}/contact_inboxes`, { inbox_id: account.inboxId }]
  ]
  for (const [method, path, body] of refused) {
    const answer = await call(method, path, { token: account.botToken, body })
    t.equal(answer.status, 401, `${method} ${path}`)
    t.same(answer.body, NO_BOTS, `${method} ${path}`)
  }
  const [contacts] = await sim.query('SELECT count(*)::int AS count FROM contacts')
  t.equal(contacts.count, 1, 'the refused contact create stored nothing')
  const [contactInboxes] = await sim.query('SELECT count(*)::int AS count FROM contact_inboxes')
  t.equal(contactInboxes.count, 1, 'the refused contact_inbox create stored nothing')
})

test('a bot token is accepted on conversation create, message create and toggle_status', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const contact = await call('POST', '/contacts', { body: { name: 'Bot Friend', inbox_id: account.inboxId } })
  t.equal(contact.status, 200)
  const bot = { token: account.botToken }

  const conversation = await call('POST', '/conversations', {
    ...bot,
    body: { contact_id: contact.body.payload.contact.id, inbox_id: account.inboxId, source_id: contact.body.payload.contact_inbox.source_id }
  })
  t.equal(conversation.status, 200, 'conversation create')
  t.equal(conversation.body.status, 'open')
  const displayId: number = conversation.body.id

  const message = await call('POST', `/conversations/${displayId}/messages`, { ...bot, body: { content: 'from the bot' } })
  t.equal(message.status, 200, 'message create')
  t.equal(message.body.conversation_id, displayId)
  t.equal(message.body.content, 'from the bot')

  const toggled = await call('POST', `/conversations/${displayId}/toggle_status`, { ...bot, body: { status: 'resolved' } })
  t.equal(toggled.status, 200, 'toggle_status')
  t.same(toggled.body, {
    meta: {}, payload: { success: true, conversation_id: displayId, current_status: 'resolved', snoozed_until: null }
  })

  const rows = await sim.query('SELECT c.status, m.content FROM conversations c JOIN messages m ON m.conversation_id = c.id')
  t.same(rows, [{ status: 1, content: 'from the bot' }], 'what the bot did is stored')
})

test('a token of account A used on account B gets 401 not authorized to access this account', async (t) => {
  const sim = await startSimulator(t)
  const a = await sim.createAccount()
  const b = await sim.createAccount()
  const onB = chatwootApi(sim, a, b.accountId)
  const inboxes = await onB('GET', '/inboxes')
  t.equal(inboxes.status, 401)
  t.same(inboxes.body, NOT_IN_ACCOUNT)
  const created = await onB('POST', '/contacts', { body: { name: 'Intruder' } })
  t.equal(created.status, 401)
  t.same(created.body, NOT_IN_ACCOUNT)
  t.equal(await count(sim, 'contacts'), 0, 'nothing stored in either account')

  const botOnB = await onB('POST', '/conversations', { token: a.botToken, body: {} })
  t.equal(botOnB.status, 401, 'a bot of account A is not in account B either')
  t.same(botOnB.body, { error: 'Bot is not authorized to access this account' }, 'with the bot\'s own message')

  const own = await chatwootApi(sim, b)('GET', '/inboxes')
  t.equal(own.status, 200, 'account B\'s own token still works')
  t.same(own.body.payload.map((inbox: { id: number }) => inbox.id), [b.inboxId])
})

test('an account id that does not exist gets 404 Resource could not be found', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  for (const accountId of [account.accountId + 1000, 0]) {
    const call = chatwootApi(sim, account, accountId)
    const answer = await call('GET', '/inboxes')
    t.equal(answer.status, 404, `account ${accountId}`)
    t.same(answer.body, NOT_FOUND, `account ${accountId}`)
    const posted = await call('POST', '/contacts', { body: { name: 'Nobody' } })
    t.equal(posted.status, 404, `account ${accountId}`)
    t.same(posted.body, NOT_FOUND, `account ${accountId}`)
  }
  t.equal(await count(sim, 'contacts'), 0)
})

test('a conversation display id that exists only in another account is 404 in this one', async (t) => {
  const sim = await startSimulator(t)
  const a = await sim.createAccount()
  const b = await sim.createAccount()
  const callA = chatwootApi(sim, a)
  const callB = chatwootApi(sim, b)
  await contactWithConversation(callA, a.inboxId, 'first@s.whatsapp.net')
  const second = await contactWithConversation(callA, a.inboxId, 'second@s.whatsapp.net')
  const onlyB = await contactWithConversation(callB, b.inboxId, 'only-b@s.whatsapp.net')
  t.equal(second.displayId, onlyB.displayId + 1, 'account A has a display id account B has not')

  const read = await callB('GET', `/conversations/${second.displayId}`)
  t.equal(read.status, 404)
  t.same(read.body, NOT_FOUND)
  const posted = await callB('POST', `/conversations/${second.displayId}/messages`, { body: { content: 'lost' } })
  t.equal(posted.status, 404)
  t.same(posted.body, NOT_FOUND)
  const toggled = await callB('POST', `/conversations/${second.displayId}/toggle_status`, { token: b.botToken, body: {} })
  t.equal(toggled.status, 404)
  t.same(toggled.body, NOT_FOUND)
  t.equal(await count(sim, 'messages'), 0, 'no message stored')

  const own = await callA('GET', `/conversations/${second.displayId}`)
  t.equal(own.status, 200, 'account A still reads it')
  t.equal(own.body.account_id, a.accountId)
})

test('deleting a conversation is for administrators: admin gets 200 with an empty body, bot and agent get 401', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'deleted@s.whatsapp.net')

  const byBot = await call('DELETE', `/conversations/${displayId}`, { token: account.botToken })
  t.equal(byBot.status, 401)
  t.same(byBot.body, NO_BOTS)

  const agentToken = randomBytes(18).toString('base64url')
  const [agent] = await sim.query("INSERT INTO users (name, email) VALUES ('Agent', 'agent@simulator.test') RETURNING id")
  await sim.query('INSERT INTO account_users (account_id, user_id, role) VALUES ($1, $2, 0)', [account.accountId, agent.id])
  await sim.query("INSERT INTO access_tokens (owner_type, owner_id, token) VALUES ('User', $1, $2)", [agent.id, agentToken])
  const byAgent = await call('DELETE', `/conversations/${displayId}`, { token: agentToken })
  t.equal(byAgent.status, 401)
  t.same(byAgent.body, NOT_ALLOWED)
  const agentReads = await call('GET', `/conversations/${displayId}`, { token: agentToken })
  t.equal(agentReads.status, 200, 'the agent token itself is good')
  t.equal(await count(sim, 'conversations'), 1, 'refused deletes deleted nothing')

  const byAdmin = await call('DELETE', `/conversations/${displayId}`)
  t.equal(byAdmin.status, 200)
  t.equal(byAdmin.text, '')
})

test('an unknown path is a 404 and the simulator keeps answering', async (t) => {
  const { call } = await simulatedAccount(t)
  const answer = await call('GET', '/no_such_thing')
  t.equal(answer.status, 404)
  const action = await call('POST', '/conversations/1/no_such_action', { body: {} })
  t.equal(action.status, 404)
  const good = await call('GET', '/inboxes')
  t.equal(good.status, 200)
})

test('malformed JSON gets 400, stores nothing, and the simulator keeps answering', async (t) => {
  const { sim, call } = await simulatedAccount(t)
  const contact = await call('POST', '/contacts', { raw: '{"name": "Half', contentType: 'application/json' })
  t.equal(contact.status, 400)
  const conversation = await call('POST', '/conversations', { raw: '{inbox_id: 1,}', contentType: 'application/json' })
  t.equal(conversation.status, 400)
  t.equal(await count(sim, 'contacts'), 0)
  t.equal(await count(sim, 'conversations'), 0)
  const good = await call('POST', '/contacts', { body: { name: 'Whole' } })
  t.equal(good.status, 200)
  t.equal(good.body.payload.contact.name, 'Whole')
})

test('a JSON array or scalar body does not crash: a 4xx and nothing stored', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const contact = await call('POST', '/contacts', { body: { name: 'Holder', inbox_id: account.inboxId } })
  const contactId: number = contact.body.payload.contact.id
  const sourceId: string = contact.body.payload.contact_inbox.source_id

  const array = await call('POST', `/contacts/${contactId}/contact_inboxes`, { body: [{ inbox_id: account.inboxId, source_id: 'in-an-array' }] })
  t.equal(array.status, 404, 'an array carries no inbox_id, and a missing inbox is not found')
  t.same(array.body, NOT_FOUND)
  for (const scalar of ['42', '"text"', 'true', 'null']) {
    const conversation = await call('POST', '/conversations', { raw: scalar, contentType: 'application/json' })
    t.equal(conversation.status, 404, `body ${scalar}: no contact, inbox or source_id to find`)
    t.same(conversation.body, NOT_FOUND, `body ${scalar}`)
  }
  const arrayConversation = await call('POST', '/conversations', {
    body: [{ contact_id: contactId, inbox_id: account.inboxId, source_id: sourceId }]
  })
  t.equal(arrayConversation.status, 404)
  t.same(arrayConversation.body, NOT_FOUND)
  t.equal(await count(sim, 'contact_inboxes'), 1)
  t.equal(await count(sim, 'conversations'), 0)

  const good = await call('POST', '/conversations', { body: { contact_id: contactId, inbox_id: account.inboxId, source_id: sourceId } })
  t.equal(good.status, 200, 'the simulator keeps answering')
})

test('a JSON body over 4 MB gets 413 and the simulator keeps answering', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'big@s.whatsapp.net')
  const raw = JSON.stringify({ content: 'x'.repeat(4 * 1024 * 1024 + 1) })
  const answer = await call('POST', `/conversations/${displayId}/messages`, { raw, contentType: 'application/json' })
  t.equal(answer.status, 413)
  t.equal(await count(sim, 'messages'), 0)
  const good = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'small' } })
  t.equal(good.status, 200)
  t.equal(good.body.content, 'small')
})

test('no token ever appears in the request log', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'log@s.whatsapp.net')
  const unknown = randomBytes(18).toString('base64url')
  await call('GET', '/inboxes')
  await call('GET', `/inboxes?api_access_token=${account.token}`)
  await call('GET', '/inboxes', { token: account.botToken })
  await call('POST', `/conversations/${displayId}/messages`, { token: account.botToken, body: { content: 'hi' } })
  await call('GET', '/inboxes', { token: unknown })
  await call('GET', '/inboxes', { token: null })
  await call('GET', '/no_such_thing')

  t.equal(sim.requests.length, 9, 'every request was logged')
  t.same(sim.requests.map((entry) => entry.status), [200, 200, 200, 200, 401, 200, 401, 401, 404])
  t.equal(sim.requests[3]!.path, `/api/v1/accounts/${account.accountId}/inboxes`, 'the query is left out')
  for (const token of [account.token, account.botToken, unknown]) {
    const leaks = sim.requests.filter((entry) => JSON.stringify(entry).includes(token))
    t.same(leaks, [], 'no logged entry carries the token')
  }
})
