import { Pool } from 'undici'
import { ChatwootClient } from '../dist/index.js'
import { createChatwootSimulator, serverUrl } from '../dist/testing/index.js'
import { type Figure, measure, type MeasureOptions } from './measure.js'

export const title = 'ChatwootClient.createMessage against a bare undici POST of the same request, same simulator'
export const options: MeasureOptions = { operations: 500, concurrency: 5, rounds: 7 }

const CONVERSATIONS = 50

export async function run (measureOptions: MeasureOptions): Promise<Figure[]> {
  const sim = await createChatwootSimulator({ database: serverUrl(), messagesPerMinute: Number.MAX_SAFE_INTEGER })
  const account = await sim.createAccount()
  // Same connection count for both, so only the client's own work differs.
  const bare = new Pool(sim.url, { connections: measureOptions.concurrency })
  const client = new ChatwootClient({
    url: sim.url, accountId: account.accountId, token: account.token, dispatcher: new Pool(sim.url, { connections: measureOptions.concurrency })
  })
  try {
    const displayIds: number[] = []
    for (let i = 0; i < CONVERSATIONS; i++) {
      const created = await client.createContact({ identifier: `bench-${i}`, inbox_id: account.inboxId })
      const conversation = await client.createConversation({
        contact_id: created.payload.contact.id, inbox_id: account.inboxId, source_id: created.payload.contact_inbox.source_id!
      })
      displayIds.push(conversation.id)
    }
    let next = 0
    const message = () => {
      next++
      return { displayId: displayIds[next % CONVERSATIONS]!, body: { content: 'benchmark message', message_type: 'incoming' as const, source_id: `bench:${next}` } }
    }
    const headers = { api_access_token: account.token, 'content-type': 'application/json', accept: 'application/json' }
    return await measure([
      {
        name: 'bare undici POST (baseline)',
        run: async () => {
          const { displayId, body } = message()
          const response = await bare.request({
            method: 'POST', path: `/api/v1/accounts/${account.accountId}/conversations/${displayId}/messages`, headers, body: JSON.stringify(body)
          })
          await response.body.json()
        }
      },
      {
        name: 'ChatwootClient.createMessage',
        run: () => {
          const { displayId, body } = message()
          return client.createMessage(displayId, body)
        }
      }
    ], measureOptions)
  } finally {
    await Promise.all([bare.close(), client.close()])
    await sim.close()
  }
}
