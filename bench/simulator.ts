import Fastify from 'fastify'
import { Pool } from 'undici'
import { createChatwootSimulator, serverUrl } from '../dist/testing/index.js'
import { type Figure, measure, type MeasureOptions } from './measure.js'

export const title = 'Chatwoot simulator: POST /conversations/{id}/messages (JSON) against a bare Fastify route'
export const options: MeasureOptions = { operations: 500, concurrency: 5, rounds: 7 }

// Spread over many conversations, as real traffic is, and with the per-minute limit lifted:
// the figure is the simulator's ceiling for later benchmarks, not Chatwoot's limit.
const CONVERSATIONS = 50
const UNLIMITED = Number.MAX_SAFE_INTEGER

type Simulator = Awaited<ReturnType<typeof createChatwootSimulator>>

async function poster (sim: Simulator) {
  const account = await sim.createAccount()
  const http = new Pool(sim.url, { connections: options.concurrency })
  const headers = { api_access_token: account.token, 'content-type': 'application/json' }
  const call = async (path: string, body: unknown) => {
    const response = await http.request({ method: 'POST', path: `/api/v1/accounts/${account.accountId}${path}`, headers, body: JSON.stringify(body) })
    const answer = await response.body.json() as any
    if (response.statusCode !== 200) throw new Error(`${path} answered ${response.statusCode}: ${JSON.stringify(answer)}`)
    return answer
  }
  const displayIds: number[] = []
  for (let i = 0; i < CONVERSATIONS; i++) {
    const contact = await call('/contacts', { identifier: `bench-${i}`, inbox_id: account.inboxId })
    const conversation = await call('/conversations', {
      contact_id: contact.payload.contact.id, inbox_id: account.inboxId, source_id: contact.payload.contact_inbox.source_id
    })
    displayIds.push(conversation.id)
  }
  let next = 0
  const post = () => call(`/conversations/${displayIds[next++ % CONVERSATIONS]}/messages`,
    { content: 'benchmark message', message_type: 'incoming', source_id: `bench:${next}` })
  return { post, close: () => http.close() }
}

export async function run (measureOptions: MeasureOptions): Promise<Figure[]> {
  const bare = Fastify()
  bare.post('/messages', async () => ({ id: 1, message_type: 0 }))
  await bare.listen({ port: 0, host: '127.0.0.1' })
  const { port } = bare.server.address() as { port: number }
  const bareHttp = new Pool(`http://127.0.0.1:${port}`, { connections: measureOptions.concurrency })
  const baseline = {
    name: 'bare Fastify route (baseline)',
    run: async () => {
      const response = await bareHttp.request({ method: 'POST', path: '/messages', headers: { 'content-type': 'application/json' }, body: '{"content":"benchmark message"}' })
      await response.body.json()
    }
  }
  const onServer = await createChatwootSimulator({ database: serverUrl(), messagesPerMinute: UNLIMITED })
  const embedded = await createChatwootSimulator({ messagesPerMinute: UNLIMITED })
  const server = await poster(onServer)
  const pglite = await poster(embedded)
  try {
    const [base, onPostgres] = await measure([baseline, { name: 'simulator on Postgres', run: server.post }], measureOptions)
    const [, onPglite] = await measure([baseline, { name: 'simulator on embedded PGlite', operations: 200, run: pglite.post }],
      { ...measureOptions, rounds: 3 })
    return [base, onPostgres, onPglite].filter((figure) => figure !== undefined)
  } finally {
    await Promise.all([server.close(), pglite.close(), bareHttp.close()])
    await Promise.all([onServer.close(), embedded.close(), bare.close()])
  }
}
