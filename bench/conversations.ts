import { performance } from 'node:perf_hooks'
import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import { Pool } from 'undici'
import { chatwootClient, chatwootConversations, chatwootInstances } from '../dist/index.js'
import { createChatwootSimulator, serverUrl } from '../dist/testing/index.js'
import { type Figure, measure, type MeasureOptions } from './measure.js'

export const title = 'deliver() on warm conversations against a bare undici POST and the flow Evolution API uses today'
export const options: MeasureOptions = { operations: 2000, concurrency: 32, rounds: 5 }

const CONTACTS = 1000
const BURST = 1000

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

export async function run (measureOptions: MeasureOptions): Promise<Figure[]> {
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

    // The stale burst: the same burst for one contact, with and without its conversation deleted first.
    const burst = async (deleteFirst: boolean) => {
      const contact = { identifier: `burst-${deleteFirst ? 'stale' : 'warm'}-${Date.now()}@s.whatsapp.net` }
      const first = await app.chatwoot.deliver('bench', { contact, message: { content: 'first' } })
      if (deleteFirst) await sim.deleteConversation(account.accountId, first.conversationId)
      const started = performance.now()
      await Promise.all(Array.from({ length: BURST }, (_, i) => app.chatwoot.deliver('bench', { contact, message: { content: `burst ${i}` } })))
      return performance.now() - started
    }
    const warm = await burst(false)
    const stale = await burst(true)
    const warmFigure = { name: `burst of ${BURST}, conversation alive (baseline)`, opsPerSec: Math.round(BURST / (warm / 1000)), ratio: 1, quartiles: [1, 1] as [number, number] }
    // Wall time as a ratio to the baseline's: above 1 is slower.
    const staleFigure = { name: `burst of ${BURST}, conversation deleted (wall time ratio)`, opsPerSec: Math.round(BURST / (stale / 1000)), ratio: Number((stale / warm).toFixed(3)), quartiles: [stale / warm, stale / warm] as [number, number] }
    return [...figures, warmFigure, staleFigure]
  } finally {
    await http.close()
    await app.redis.eval('for _, key in ipairs(redis.call(\'KEYS\', ARGV[1])) do redis.call(\'DEL\', key) end return 0', 0, `${keyPrefix}*`)
    await app.close()
    await sim.close()
  }
}
