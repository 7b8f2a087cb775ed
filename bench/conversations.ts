import { performance } from 'node:perf_hooks'
import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import { Pool } from 'undici'
import { chatwootClient, chatwootConversations, chatwootInstances } from '../dist/index.js'
import { createChatwootSimulator, serverUrl } from '../dist/testing/index.js'
import { figureOf, measure, type MeasureOptions, type SuiteResult } from './measure.js'

export const title = 'deliver() on warm conversations against a bare undici POST and the flow Evolution API uses today'
// Many short rounds rather than a few long ones: a ratio is the median of per-round ratios, and on a
// shared 2-core machine one noisy round moves a median of 5 more than one of 11.
export const options: MeasureOptions = { operations: 500, concurrency: 32, rounds: 11 }

const CONTACTS = 1000
const BURST = 1000
const BURST_ROUNDS = 3

async function gateway (sim: Awaited<ReturnType<typeof createChatwootSimulator>>, account: { accountId: number, inboxId: number, token: string }, keyPrefix: string) {
  const app = Fastify()
  await app.register(fastifyRedis, { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
  await app.register(chatwootInstances, {
    resolve: () => ({ chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token } })
  })
  await app.register(chatwootClient, { connections: options.concurrency })
  await app.register(chatwootConversations, { keyPrefix })
  await app.ready()
  return app
}

export async function run (measureOptions: MeasureOptions): Promise<SuiteResult> {
  const sim = await createChatwootSimulator({ database: serverUrl(), messagesPerMinute: Number.MAX_SAFE_INTEGER })
  const account = await sim.createAccount()
  const keyPrefix = `bench${Date.now()}:`
  const app = await gateway(sim, account, keyPrefix)
  const http = new Pool(sim.url, { connections: measureOptions.concurrency })
  const base = `/api/v1/accounts/${account.accountId}`
  const headers = { api_access_token: account.token, 'content-type': 'application/json', accept: 'application/json' }
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const response = await http.request({ method, path: base + path, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    return response.body.json() as Promise<any>
  }
  try {
    // Warm: every contact has its conversation cached.
    const conversations = new Map<string, number>()
    const contacts = Array.from({ length: CONTACTS }, (_, i) => ({ identifier: `55119${String(i).padStart(6, '0')}@s.whatsapp.net` }))
    for (let i = 0; i < CONTACTS; i += 50) {
      await Promise.all(contacts.slice(i, i + 50).map(async (contact) => {
        const result = await app.chatwoot.deliver('bench', { contact, message: { content: 'warm-up' } })
        conversations.set(contact.identifier, result.conversationId)
      }))
    }
    let next = 0
    const nextMessage = () => {
      const contact = contacts[next++ % CONTACTS]!
      return { contact, message: { content: 'benchmark message', message_type: 'incoming' as const, source_id: `bench:${next}` } }
    }
    const figures = await measure([
      {
        name: 'bare undici POST (baseline)',
        run: async () => {
          const { contact, message } = nextMessage()
          await call('POST', `/conversations/${conversations.get(contact.identifier)}/messages`, message)
        }
      },
      {
        name: 'deliver() on a warm cache',
        run: () => app.chatwoot.deliver('bench', nextMessage())
      },
      {
        name: 'Evolution API flow today',
        // Three requests a message: fewer of them take as long as the others' count.
        operations: Math.ceil(measureOptions.operations / 3),
        run: async () => {
          const { contact, message } = nextMessage()
          const found = await call('POST', '/contacts/filter', { payload: [{ attribute_key: 'identifier', filter_operator: 'equal_to', values: [contact.identifier] }] })
          if (found.payload.length !== 1) throw new Error('contact not found')
          const displayId = conversations.get(contact.identifier)
          await call('GET', `/conversations/${displayId}`)
          await call('POST', `/conversations/${displayId}/messages`, message)
        }
      }
    ], measureOptions)

    // The stale burst: the same burst for a new contact, with and without its conversation
    // deleted first, taking turns at going first so drift touches both alike.
    const burst = async (deleteFirst: boolean, round: number) => {
      const contact = { identifier: `burst-${deleteFirst ? 'stale' : 'warm'}-${round}-${Date.now()}@s.whatsapp.net` }
      const first = await app.chatwoot.deliver('bench', { contact, message: { content: 'first' } })
      if (deleteFirst) await sim.deleteConversation(account.accountId, first.conversationId)
      const started = performance.now()
      await Promise.all(Array.from({ length: BURST }, (_, i) => app.chatwoot.deliver('bench', { contact, message: { content: `burst ${i}` } })))
      return performance.now() - started
    }
    const warmMs: number[] = []
    const staleMs: number[] = []
    for (let round = 0; round < BURST_ROUNDS; round++) {
      const staleFirst = round % 2 === 1
      if (staleFirst) staleMs.push(await burst(true, round))
      warmMs.push(await burst(false, round))
      if (!staleFirst) staleMs.push(await burst(true, round))
    }
    const throughput = (ms: number) => BURST / (ms / 1000)
    return {
      figures: [
        ...figures,
        figureOf(`burst of ${BURST}, conversation alive (baseline)`, warmMs.map(throughput), warmMs.map(() => 1)),
        // Wall time over the baseline's, unlike the ratios above: above 1 is slower.
        figureOf(`burst of ${BURST}, conversation deleted (wall time ratio)`, staleMs.map(throughput),
          staleMs.map((ms, round) => ms / (warmMs[round] ?? ms)))
      ],
      facts: { bursts: `${BURST_ROUNDS} rounds of ${BURST} deliveries at once for one contact` }
    }
  } finally {
    await http.close()
    await app.redis.eval('for _, key in ipairs(redis.call(\'KEYS\', ARGV[1])) do redis.call(\'DEL\', key) end return 0', 0, `${keyPrefix}*`)
    await app.close()
    await sim.close()
  }
}
