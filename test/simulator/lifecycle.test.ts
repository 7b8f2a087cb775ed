import pg from 'pg'
import { test } from 'tap'
import { request } from 'undici'
import { type ChatwootSimulator, createChatwootSimulator, serverUrl } from '../../lib/testing/index.js'
import { chatwootApi, contactWithConversation, simulatedAccount, startSimulator } from '../helpers/simulator.js'

const CHATWOOT_TABLES = ['access_tokens', 'accounts', 'contact_inboxes', 'contacts', 'conversations', 'inboxes', 'messages']

/** Runs `work` on a fresh pg.Client connected to `url`, and closes it. */
async function withClient<T> (url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

async function databaseExists (name: string): Promise<boolean> {
  return withClient(serverUrl(), async (client) =>
    (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1)
}

const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1))

/** Closes the simulator at teardown unless the test closed it itself. */
function closeAtTeardown (t: { teardown: (fn: () => unknown) => void }, sim: ChatwootSimulator) {
  let closed = false
  t.teardown(async () => {
    if (!closed) await sim.close()
  })
  return async () => {
    closed = true
    await sim.close()
  }
}

test('createChatwootSimulator rejects invalid options with FST_CHATWOOT_SIM_OPTIONS_INVALID', async (t) => {
  const invalid: Array<[string, Record<string, unknown>]> = [
    ['a negative port', { port: -1 }],
    ['a port above 65535', { port: 65536 }],
    ['a fractional port', { port: 80.5 }],
    ['a port given as a string', { port: '8080' }],
    ['messagesPerMinute 0', { messagesPerMinute: 0 }],
    ['a negative messagesPerMinute', { messagesPerMinute: -5 }],
    ['a fractional messagesPerMinute', { messagesPerMinute: 1.5 }],
    ['an empty host', { host: '' }],
    ['a database that is not a postgres URL', { database: 'mysql://root@127.0.0.1/chatwoot' }],
    ['a database that is not a URL', { database: 'chatwoot' }],
    ['a database that is not a string', { database: 5432 }]
  ]
  for (const [name, options] of invalid) {
    await t.rejects(createChatwootSimulator(options as any), { code: 'FST_CHATWOOT_SIM_OPTIONS_INVALID' }, name)
  }
})

test('sim.url serves the Application API', async (t) => {
  const sim = await startSimulator(t)
  t.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const account = await sim.createAccount()
  const response = await request(`${sim.url}/api/v1/accounts/${account.accountId}/inboxes`, {
    headers: { api_access_token: account.token }
  })
  t.equal(response.statusCode, 200)
  const body = await response.body.json() as { payload: Array<{ id: number, channel_type: string }> }
  t.same(body.payload.map((inbox) => [inbox.id, inbox.channel_type]), [[account.inboxId, 'Channel::Api']])
  const anonymous = await request(`${sim.url}/api/v1/accounts/${account.accountId}/inboxes`)
  t.equal(anonymous.statusCode, 401)
  t.same(await anonymous.body.json(), { errors: ['You need to sign in or sign up before continuing.'] })
})

test('sim.databaseUrl reaches a database with Chatwoot\'s tables and column types', async (t) => {
  const sim = await startSimulator(t)
  const { tables, columns } = await withClient(sim.databaseUrl, async (client) => {
    const tables = (await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_name = ANY($1) ORDER BY table_name`, [CHATWOOT_TABLES])).rows
      .map((row) => row.table_name)
    const columns = (await client.query<{ table_name: string, column_name: string, data_type: string, is_nullable: string }>(
      `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = ANY($1)`, [CHATWOOT_TABLES])).rows
    return { tables, columns }
  })
  t.same(tables, CHATWOOT_TABLES)
  const column = (table: string, name: string) => {
    const found = columns.find((row) => row.table_name === table && row.column_name === name)
    return found === undefined ? undefined : { type: found.data_type, nullable: found.is_nullable === 'YES' }
  }
  t.same(column('messages', 'conversation_id'), { type: 'integer', nullable: false }, 'messages.conversation_id')
  t.same(column('messages', 'source_id'), { type: 'text', nullable: true }, 'messages.source_id')
  t.same(column('messages', 'message_type'), { type: 'integer', nullable: false }, 'messages.message_type')
  t.same(column('messages', 'content_attributes'), { type: 'json', nullable: true }, 'messages.content_attributes')
  t.same(column('contact_inboxes', 'source_id'), { type: 'text', nullable: false }, 'contact_inboxes.source_id')
  t.same(column('contact_inboxes', 'id'), { type: 'bigint', nullable: false }, 'contact_inboxes.id')
  t.same(column('contact_inboxes', 'contact_id'), { type: 'bigint', nullable: true }, 'contact_inboxes.contact_id')
  t.same(column('conversations', 'display_id'), { type: 'integer', nullable: false }, 'conversations.display_id')
  t.same(column('conversations', 'uuid'), { type: 'uuid', nullable: false }, 'conversations.uuid')
  t.same(column('conversations', 'contact_id'), { type: 'bigint', nullable: true }, 'conversations.contact_id')
  t.same(column('conversations', 'status'), { type: 'integer', nullable: false }, 'conversations.status')
  t.same(column('conversations', 'last_activity_at'), { type: 'timestamp without time zone', nullable: false },
    'conversations.last_activity_at')
  t.same(column('conversations', 'additional_attributes'), { type: 'jsonb', nullable: true }, 'conversations.additional_attributes')
  t.same(column('contacts', 'identifier'), { type: 'character varying', nullable: true }, 'contacts.identifier')
  t.same(column('inboxes', 'channel_type'), { type: 'character varying', nullable: true }, 'inboxes.channel_type')
})

test('sim.databaseUrl sees the rows the API writes, with the internal conversation id in messages', async (t) => {
  const { sim, account, call } = await simulatedAccount(t)
  // A second conversation first, so the internal id and the display id of the one we check differ.
  const other = await sim.createAccount()
  await contactWithConversation(chatwootApi(sim, other), other.inboxId, 'other@s.whatsapp.net')
  const { displayId, sourceId } = await contactWithConversation(call, account.inboxId, 'rows@s.whatsapp.net')
  const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'seen by pg', message_type: 'incoming' } })
  t.equal(posted.status, 200)
  const rows = await withClient(sim.databaseUrl, async (client) => (await client.query(
    `SELECT m.id, m.content, m.conversation_id, c.id AS internal_id, c.display_id, ci.source_id
       FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contact_inboxes ci ON ci.id = c.contact_inbox_id
      WHERE m.account_id = $1`, [account.accountId])).rows)
  t.equal(rows.length, 1)
  t.equal(rows[0].id, posted.body.id)
  t.equal(rows[0].content, 'seen by pg')
  t.equal(rows[0].display_id, displayId)
  t.equal(rows[0].source_id, sourceId)
  t.not(rows[0].conversation_id, displayId, 'messages.conversation_id is not the display id')
})

test('close() stops the HTTP server and drops the database it created', async (t) => {
  const sim = await createChatwootSimulator({ database: serverUrl() })
  const close = closeAtTeardown(t, sim)
  const name = databaseName(sim.databaseUrl)
  t.match(name, /^fcw_[0-9a-f]+$/)
  t.not(sim.databaseUrl, serverUrl(), 'a database of its own, not the server\'s')
  t.equal(await databaseExists(name), true, 'the database exists while the simulator runs')
  const account = await sim.createAccount()
  const url = `${sim.url}/api/v1/accounts/${account.accountId}/inboxes`
  const before = await request(url, { headers: { api_access_token: account.token } })
  t.equal(before.statusCode, 200)
  await before.body.dump()

  await close()
  t.equal(await databaseExists(name), false, 'the database is gone')
  await t.rejects(request(url, { headers: { api_access_token: account.token } }), 'a request after close fails')
  await t.rejects(withClient(sim.databaseUrl, (client) => client.query('SELECT 1')), 'the database URL no longer connects')
})

test('two simulators on one Postgres server keep separate databases', async (t) => {
  const [first, second] = await Promise.all([startSimulator(t), startSimulator(t)])
  t.not(first.databaseUrl, second.databaseUrl)
  t.not(first.url, second.url)
  const account = await first.createAccount()
  const call = chatwootApi(first, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'first@s.whatsapp.net')
  t.equal((await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'only in first' } })).status, 200)

  t.equal((await first.query('SELECT id FROM accounts')).length, 1)
  t.same(await second.query('SELECT id FROM accounts'), [], 'the second has no account')
  t.same(await second.query('SELECT id FROM messages'), [], 'the second has no message')
  const secondRows = await withClient(second.databaseUrl, async (client) =>
    (await client.query('SELECT (SELECT count(*) FROM accounts)::int AS accounts, (SELECT count(*) FROM contacts)::int AS contacts')).rows)
  t.same(secondRows, [{ accounts: 0, contacts: 0 }])

  const onSecond = await chatwootApi(second, account)('GET', '/inboxes')
  t.equal(onSecond.status, 401, 'the first\'s token is unknown to the second')
  t.same(onSecond.body, { error: 'Invalid Access Token' })

  const own = await second.createAccount()
  t.equal(own.accountId, account.accountId, 'each database numbers its accounts from the start')
  t.not(own.token, account.token)
  t.same(await second.query('SELECT id FROM conversations'), [], 'the second still has no conversation')
})

test('with no database option the simulator runs on an embedded PGlite', { timeout: 60000 }, async (t) => {
  const sim = await createChatwootSimulator()
  t.teardown(() => sim.close())
  t.match(sim.databaseUrl, /^postgres(ql)?:\/\//)
  const account = await sim.createAccount()
  const call = chatwootApi(sim, account)
  const contact = await call('POST', '/contacts', { body: { name: 'Embedded', identifier: 'embedded@s.whatsapp.net', inbox_id: account.inboxId } })
  t.equal(contact.status, 200)
  const contactId: number = contact.body.payload.contact.id
  const sourceId: string = contact.body.payload.contact_inbox.source_id
  t.equal(contact.body.payload.contact_inbox.inbox.id, account.inboxId)
  const conversation = await call('POST', '/conversations', {
    body: { contact_id: contactId, inbox_id: account.inboxId, source_id: sourceId }
  })
  t.equal(conversation.status, 200)
  const displayId: number = conversation.body.id
  const posted = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'from pglite', message_type: 'incoming' } })
  t.equal(posted.status, 200)
  t.equal(posted.body.content, 'from pglite')
  t.equal(posted.body.message_type, 0)
  t.equal(posted.body.conversation_id, displayId)

  const listed = await call('GET', `/conversations/${displayId}/messages`)
  t.equal(listed.status, 200)
  t.same(listed.body.payload.map((message: { id: number, content: string }) => [message.id, message.content]),
    [[posted.body.id, 'from pglite']])

  const rows = await withClient(sim.databaseUrl, async (client) => (await client.query(
    'SELECT m.id, m.content, m.message_type, c.display_id FROM messages m JOIN conversations c ON c.id = m.conversation_id')).rows)
  t.same(rows, [{ id: posted.body.id, content: 'from pglite', message_type: 0, display_id: displayId }])
})
