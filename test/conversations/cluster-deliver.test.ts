// deliver() through the plugin with `redis:` an ioredis Cluster (three masters on loopback, started by
// the helper if need be): two apps stand for two processes of one gateway sharing the Cluster.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { type Test, test } from 'tap'
import type { DeliveryResult } from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { gateway, instanceOf } from '../helpers/gateway.js'
import { conversationKey } from '../helpers/keys.js'
import { connectRedisCluster, deleteClusterKeys } from '../helpers/redis-cluster.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres')

const PER_APP = 100
const range = (length: number) => Array.from({ length }, (_, index) => index)

/** Two gateways, each with a Cluster client of its own and no @fastify/redis, on one key prefix. */
async function twoProcesses (t: Test, sim: ChatwootSimulator, account: CreatedAccount) {
  const keyPrefix = `t${randomUUID()}:`
  const apps: FastifyInstance[] = []
  const clusters = await Promise.all([connectRedisCluster(), connectRedisCluster()])
  // Registered first, so it runs last: after both apps (and their subscribers) have closed.
  t.teardown(async () => {
    await deleteClusterKeys(clusters[0], keyPrefix)
    await Promise.all(clusters.map((cluster) => cluster.quit()))
  })
  for (const cluster of clusters) {
    apps.push((await gateway(t, { instances: { acme: instanceOf(sim, account) }, redis: false, conversations: { keyPrefix, redis: cluster } })).app)
  }
  return { apps: apps as [FastifyInstance, FastifyInstance], cluster: clusters[0], keyPrefix }
}

/** PER_APP deliveries from each app for one contact, all at once, interleaved. */
function burst (apps: FastifyInstance[], identifier: string, tag: string): Promise<DeliveryResult[]> {
  return Promise.all(range(PER_APP).flatMap((index) => apps.map((app, side) =>
    app.chatwoot.deliver('acme', { contact: { identifier, name: identifier }, message: { content: `${tag} ${side}:${index}`, source_id: `${tag}-${side}-${index}` } }))))
}

async function tally (sim: ChatwootSimulator, account: CreatedAccount) {
  const [row] = await sim.query<{ contacts: number, conversations: number, messages: number, duplicates: number }>(
    `SELECT (SELECT count(*)::int FROM contacts WHERE account_id = $1) AS contacts,
            (SELECT count(*)::int FROM conversations WHERE account_id = $1) AS conversations,
            (SELECT count(*)::int FROM messages WHERE account_id = $1) AS messages,
            (SELECT count(*)::int FROM (SELECT source_id FROM messages WHERE account_id = $1 GROUP BY source_id HAVING count(*) > 1) d) AS duplicates`,
    [account.accountId])
  return row
}

const sum = (apps: FastifyInstance[], event: 'creates' | 'recoveries' | 'failures' | 'storeErrors') =>
  apps.reduce((total, app) => total + app.chatwoot.stats()[event], 0)

test('on a Cluster: a burst for a new contact from two processes makes one contact and one conversation', async (t) => {
  const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 1000 })
  const { apps, cluster, keyPrefix } = await twoProcesses(t, sim, account)

  const results = await burst(apps, 'clustered', 'm')
  t.same(await tally(sim, account), { contacts: 1, conversations: 1, messages: 2 * PER_APP, duplicates: 0 },
    `1 contact, 1 conversation, ${2 * PER_APP} messages, none twice`)
  const conversationId = results[0]!.conversationId
  t.same(new Set(results.map((result) => result.conversationId)), new Set([conversationId]), 'every result names it')
  t.equal(sum(apps, 'creates'), 1, 'one create between the two processes: the lock held on the Cluster')
  t.equal(await cluster.get(await conversationKey(sim, keyPrefix, 'acme', account, 'clustered')),
    `${conversationId}:${results[0]!.contactId}:clustered`, 'the id is shared through the Cluster')
  t.same([sum(apps, 'failures'), sum(apps, 'storeErrors')], [0, 0], 'no failure, no store error')
  t.ok(apps.every((app) => app.chatwoot.stats().deliveries === PER_APP), 'each process delivered its share')
})

test('on a Cluster: a deleted conversation recovers into exactly one new one across two processes', async (t) => {
  const { sim, account } = await simulatedAccount(t, { messagesPerMinute: 1000 })
  const { apps, cluster, keyPrefix } = await twoProcesses(t, sim, account)
  const before = await apps[0].chatwoot.deliver('acme', { contact: { identifier: 'gone', name: 'gone' }, message: { content: 'before' } })
  const seen = await apps[1].chatwoot.deliver('acme', { contact: { identifier: 'gone', name: 'gone' }, message: { content: 'seen' } })
  t.match(seen, { conversationId: before.conversationId, cache: 'hit' }, 'both processes hold the conversation')
  t.ok(await sim.deleteConversation(account.accountId, before.conversationId), 'then it is deleted')

  const results = await burst(apps, 'gone', 'r')
  t.same(await tally(sim, account), { contacts: 1, conversations: 1, messages: 2 * PER_APP, duplicates: 0 },
    'one new conversation with every message, the contact kept')
  const fresh = results[0]!.conversationId
  t.not(fresh, before.conversationId, 'a new conversation')
  t.same(new Set(results.map((result) => result.conversationId)), new Set([fresh]), 'every result names the new one')
  t.equal(sum(apps, 'creates'), 2, 'one create for the recovery between the two processes (and the first one)')
  const recovered = results.filter((result) => result.recovered).length
  t.ok(recovered >= 1 && recovered <= 2, `at most one recovery per process (${recovered})`)
  t.equal(sum(apps, 'recoveries'), recovered, 'each counted')
  t.equal(await cluster.get(await conversationKey(sim, keyPrefix, 'acme', account, 'gone')), `${fresh}:${before.contactId}:gone`,
    'the Cluster holds the new id')
  t.same([sum(apps, 'failures'), sum(apps, 'storeErrors')], [0, 0])
})
