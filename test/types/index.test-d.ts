import Fastify from 'fastify'
import type pg from 'pg'
import { expectAssignable, expectError, expectType } from 'tsd'
import {
  chatwootInstances,
  type ChatwootSettings,
  type InstanceConfig,
  InstanceConfigInvalidError,
  instancePostgres,
  PgConnectError,
  type PoolSetStats,
  type ResolvedInstance
} from '../..'
import {
  type ChatwootSimulator, createChatwootSimulator, type CreatedAccount, createTestDatabase, type LoggedRequest, type TestDatabase
} from '../../dist/testing'

const app = Fastify()

app.register(chatwootInstances, {
  resolve: async (name: string) => ({ chatwoot: { url: 'https://chat', accountId: 1, inboxId: '2', token: name } }),
  ttl: 1000
})
app.register(chatwootInstances, { resolve: () => undefined })
expectError(app.register(chatwootInstances, { ttl: 5 }))
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
