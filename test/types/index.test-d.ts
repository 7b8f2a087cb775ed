import Fastify from 'fastify'
import type pg from 'pg'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import fastifyChatwoot, {
  fastifyChatwoot as namedFastifyChatwoot,
  type PoolState,
  type ChatwootClient,
  chatwootClient,
  chatwootConversations,
  type ChatwootDecorator,
  ChatwootError,
  type ChatwootErrorCode,
  chatwootInstances,
  type ChatwootSettings,
  type ClientOverrides,
  type ContactInbox,
  type ContactPage,
  type Conversation,
  type ConversationList,
  type CreatedContact,
  type ErrorContext,
  type Inbox,
  type InstanceConfig,
  InstanceConfigInvalidError,
  instancePostgres,
  isChatwootError,
  type Message,
  type MessageList,
  type OperationName,
  PgConnectError,
  type PoolSetStats,
  type RequestChatwoot,
  type ResolvedInstance,
  type RouteChatwootConfig,
  type ToggleStatusAnswer
} from '../..'
import {
  type ChatwootSimulator, createChatwootSimulator, type CreatedAccount, createTestDatabase, type LoggedRequest, type TestDatabase
} from '../../dist/testing'

const app = Fastify()

app.register(chatwootInstances, {
  resolve: async (name: string) => ({ chatwoot: { url: 'https://chat', accountId: 1, inboxId: '2', token: name } }),
  ttlMs: 1000
})
app.register(chatwootInstances, { resolve: () => undefined, ttl: 1000 }) // deprecated, still typed
app.register(chatwootInstances, { resolve: () => undefined })
expectError(app.register(chatwootInstances, { ttlMs: 5 }))
expectError(app.register(chatwootInstances, { resolve: () => ({ chatwoot: { url: 'x' } }) }))

app.register(instancePostgres, { maxPools: 10, idleTimeoutMs: 1000, revalidateMs: 10, pool: { max: 3 } })
app.register(instancePostgres, { resolve: (name: string) => `postgres://localhost/${name}` })
app.register(instancePostgres, { resolve: async () => ({ host: 'db', database: 'chatwoot' }) })
expectError(app.register(instancePostgres, { maxPools: '10' }))

expectType<Promise<ResolvedInstance>>(app.chatwootInstances.get('acme'))
expectType<void>(app.chatwootInstances.invalidate('acme'))
expectType<() => void>(app.chatwootInstances.onChange((name: string) => { expectType<string>(name) }))

async function usage () {
  const instance = await app.chatwootInstances.get('acme')
  expectType<ChatwootSettings>(instance.chatwoot)
  expectType<number>(instance.chatwoot.accountId)
  expectType<string | pg.PoolConfig | undefined>(instance.database)
  expectError(instance.chatwoot.accountId = 2)

  expectType<pg.Pool>(await app.instancePg.pool('acme'))
  const result = await app.instancePg.query<{ id: number }>('acme', 'select 1 as id')
  expectType<number>(result.rows[0]!.id)
  const answer = await app.instancePg.transact('acme', async (client) => {
    expectType<pg.PoolClient>(client)
    return 42
  })
  expectType<number>(answer)
  expectType<Promise<void>>(app.instancePg.evict('acme'))
  expectType<PoolSetStats>(app.instancePg.stats())
  expectType<number>(app.instancePg.stats().waiting)
}
export { usage }

const config: InstanceConfig = { chatwoot: { url: 'https://chat', accountId: 1, inboxId: 1, token: 't' }, database: { max: 2 } }
expectAssignable<InstanceConfig>(config)
expectType<'FST_CHATWOOT_PG_CONNECT'>(new PgConnectError('a', 'b', 'c').code)
expectType<'FST_CHATWOOT_INSTANCE_CONFIG_INVALID'>(new InstanceConfigInvalidError('a', 'b', 'c').code)

expectType<Promise<TestDatabase>>(createTestDatabase())

async function simulator () {
  const sim = await createChatwootSimulator({ database: 'postgres://localhost/postgres', messagesPerMinute: 10 })
  expectType<ChatwootSimulator>(sim)
  expectType<string>(sim.url)
  expectType<CreatedAccount>(await sim.createAccount({ inboxName: 'x', lockToSingleConversation: true }))
  expectType<number>((await sim.createAccount()).accountId)
  sim.faults.add({ method: 'POST', path: /messages$/, status: 429, times: Infinity })
  sim.faults.add({ path: '/x', dropAfterCommit: true, delayMs: 5 })
  expectError(sim.faults.add({ status: '500' }))
  expectType<LoggedRequest[]>(sim.requests)
  expectType<Promise<boolean>>(sim.deleteConversation(1, 2))
  expectError(createChatwootSimulator({ port: '3000' }))
  await sim.close()
}
export { simulator }

// chatwootClient: plugin options, fastify.chatwoot, route config and request.chatwoot.
app.register(chatwootClient)
app.register(chatwootClient, {
  retry: { maxRetries: 1, minDelayMs: 10, maxDelayMs: 100, timeoutFactor: 2, jitter: false },
  timeoutMs: 2000,
  connections: 4,
  findMessage: async ({ client, conversationId, sourceId }) => {
    expectType<ChatwootClient>(client)
    expectType<number>(conversationId)
    expectType<string>(sourceId)
    return null
  }
})
expectError(app.register(chatwootClient, { timeoutMs: '100' }))
expectError(app.register(chatwootClient, { retry: { maxRetries: '1' } }))
expectError(app.register(chatwootClient, { connections: true }))

expectType<ChatwootDecorator>(app.chatwoot)
expectType<Promise<ChatwootClient>>(app.chatwoot.client('acme'))
expectError(app.chatwoot.client(42))

async function clientUsage () {
  const client = await app.chatwoot.client('acme')
  expectType<Promise<Message>>(client.createMessage(1, { content: 'x' }))
  expectType<Promise<Message>>(client.createMessage(1, { content: 'x', message_type: 'incoming', source_id: 'wamid.1', private: false }))
  expectType<Promise<Message>>(client.createMessage(1, { attachments: [{ data: Buffer.from('x'), filename: 'a.txt', contentType: 'text/plain' }] }))
  expectError(client.createMessage(1, { message_type: 'sideways' }))
  expectError(client.createMessage('1', { content: 'x' }))
  expectType<Promise<Conversation>>(client.getConversation(1))
  expectType<Promise<Conversation>>(client.createConversation({ inbox_id: 1, contact_id: 2, source_id: 's' }))
  expectError(client.createConversation({ inbox_id: 1 }))
  expectType<Promise<ConversationList>>(client.listConversations({ status: 'open', inbox_id: 1 }))
  expectType<Promise<ToggleStatusAnswer>>(client.toggleConversationStatus(1, { status: 'resolved' }))
  expectError(client.toggleConversationStatus(1, { status: 'closed' }))
  expectType<Promise<ContactPage>>(client.searchContacts('ana'))
  expectType<Promise<ContactPage>>(client.filterContacts([{ attribute_key: 'identifier', filter_operator: 'equal_to', values: ['x'] }]))
  expectType<Promise<CreatedContact>>(client.createContact({ name: 'Ana', identifier: 'x', inbox_id: 1 }))
  expectType<Promise<ContactInbox>>(client.createContactInbox(1, { inbox_id: 2, source_id: 's' }))
  expectType<Promise<{ payload: Conversation[] }>>(client.contactConversations(1))
  expectType<Promise<MessageList>>(client.listMessages(1, { before: 10 }))
  expectType<Promise<{ payload: Inbox[] }>>(client.listInboxes())
  expectType<Promise<void>>(client.close())
  expectType<string | undefined>(client.instance)
  expectType<number>(client.accountId)
  expectType<number>((await client.createMessage(1, { content: 'x' })).conversation_id)
  expectType<string | null>((await client.getConversation(1)).messages[0]!.content)
}
export { clientUsage }

const failure = new ChatwootError({
  code: 'FST_CHATWOOT_SERVER', message: 'm', statusCode: 500, method: 'GET', path: '/x', operation: 'listInboxes', retryable: true, mayHaveLanded: true
})
expectType<ChatwootErrorCode>(failure.code)
expectType<number>(failure.statusCode)
expectType<string>(failure.method)
expectType<string>(failure.path)
expectType<string>(failure.operation)
expectType<unknown>(failure.body)
expectType<boolean>(failure.retryable)
expectType<boolean>(failure.mayHaveLanded)
expectAssignable<Error>(failure)
expectAssignable<ChatwootErrorCode>('FST_CHATWOOT_TIMEOUT')
expectNotAssignable<ChatwootErrorCode>('FST_CHATWOOT_OOPS')
expectError(new ChatwootError({ code: 'FST_CHATWOOT_OOPS', message: 'm', statusCode: 500, method: 'GET', path: '/x', operation: 'x', retryable: true, mayHaveLanded: true }))
expectError(failure.code = 'FST_CHATWOOT_SERVER')
const caught: unknown = failure
if (isChatwootError(caught)) expectType<ChatwootError>(caught)

expectType<void>(app.chatwoot.addHook('onError', async (error, context) => {
  expectType<ChatwootError>(error)
  expectType<ErrorContext>(context)
  expectType<OperationName>(context.operation)
  expectType<number>(context.attempt)
  expectType<string | undefined>(context.instance)
  expectType<ChatwootClient>(context.client)
  return { retry: { conversationId: 2 } }
}))
app.chatwoot.addHook('onError', (error) => { if (error.code === 'FST_CHATWOOT_NOT_FOUND') return undefined })
app.chatwoot.addHook('onError', () => {})
expectError(app.chatwoot.addHook('onClose', async () => undefined))
expectError(app.chatwoot.addHook('onError', async () => ({ retry: 'again' })))
expectError(app.chatwoot.addHook('onError', 'not a function'))

app.get('/:instance/inboxes', { config: { chatwoot: true } }, async (request) => {
  expectType<RequestChatwoot>(request.chatwoot)
  const { instance, client } = request.chatwoot
  expectType<string>(instance)
  expectType<ChatwootClient>(client)
  return client.listInboxes()
})
app.post('/webhook', { config: { chatwoot: { instance: (request) => String(request.headers['x-instance']) } } }, async (request) => {
  expectType<RequestChatwoot>(request.chatwoot)
})
app.get('/plain', async (request) => {
  expectType<RequestChatwoot | null>(request.chatwoot)
})
app.get('/off', { config: { chatwoot: false } }, async () => 'ok')
app.get('/plain', async (request) => { expectType<RequestChatwoot | null>(request.chatwoot) })
app.get('/x', { config: { chatwoot: { instance: () => 'x' } } }, async () => 'ok')
expectError(app.get('/x', { config: { chatwoot: 'yes' } }, async () => 'ok'))
expectError(app.get('/x', { config: { chatwoot: { instance: 'acme' } } }, async () => 'ok'))
expectError(app.get('/x', { config: { chatwoot: { instance: () => 42 } } }, async () => 'ok'))
app.addHook('preHandler', async (request) => { expectType<RequestChatwoot | null>(request.chatwoot) })
expectAssignable<RouteChatwootConfig>(true)
expectNotAssignable<RouteChatwootConfig>('yes')
expectError((null as unknown as RequestChatwoot).instance = 'other')

const overrides: ClientOverrides = { timeoutMs: 100, retry: { maxRetries: 0 } }
expectAssignable<InstanceConfig>({ chatwoot: { url: 'https://chat', accountId: 1, inboxId: 1, token: 't' }, client: overrides })
expectNotAssignable<InstanceConfig>({ chatwoot: { url: 'https://chat', accountId: 1, inboxId: 1, token: 't' }, client: { timeoutMs: '100' } })
expectType<Readonly<ClientOverrides> | undefined>(({} as ResolvedInstance).client)

async function conversations () {
  const gateway = Fastify()
  gateway.register(chatwootConversations, { ttlMs: 1000, reuse: 'open-or-pending', createStatus: 'pending', idempotency: 'always', breaker: { failures: 3 } })
  expectError(gateway.register(chatwootConversations, { idempotency: 'sometimes' }))
  expectError(gateway.register(chatwootConversations, { ttlMs: '8h' }))
  const result = await gateway.chatwoot.deliver('acme', { contact: { identifier: 'x' }, message: { content: 'hi' } })
  expectType<number>(result.conversationId)
  expectType<'hit' | 'miss'>(result.cache)
  expectType<boolean>(result.recovered)
  expectType<boolean>(result.deduplicated)
  expectType<number>(result.message.id)
  expectError(gateway.chatwoot.deliver('acme', { message: { content: 'no contact' } }))
  expectType<Promise<void>>(gateway.chatwoot.conversations.evict('acme', { identifier: 'x' }))
  expectType<number>(gateway.chatwoot.stats().recoveries)
  gateway.post('/:instance', { config: { chatwoot: true } }, async (request) => {
    const delivered = await request.chatwoot!.deliver({ contact: { identifier: 'x' }, message: { content: 'y' } })
    expectType<number>(delivered.contactId)
  })
}
export { conversations }

// The collection's default export takes one options object, each key a plugin's options.
{
  const app = Fastify()
  app.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false, conversations: { idempotency: 'always' } })
  app.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: { maxPools: 10 }, client: { timeoutMs: 1000 } })
  expectError(app.register(fastifyChatwoot, { postgres: false }))
  expectError(app.register(fastifyChatwoot, { instances: { resolve: () => undefined }, conversations: { idempotency: 'sometimes' } }))
  expectType<typeof fastifyChatwoot>(namedFastifyChatwoot)
  expectType<PoolState[]>(app.instancePg.pools())
}
