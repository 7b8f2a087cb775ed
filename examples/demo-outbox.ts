// The demo's outbox steps (`?queue=1`): a Chatwoot down for a while, and a flood to one contact under
// a per-minute limit. Each answers 202 at once and is checked later in Chatwoot's own tables.
import { createChatwootSimulator, type ChatwootSimulator, type CreatedAccount } from 'fastify-chatwoot/testing'

export interface Outcome { step: string, expected: string, observed: string, ok: boolean }
export type Post = (path: string, body: unknown) => Promise<{ status: number, text: string, json: any }>

/** The flood's limit: low, so a short demo still meets Chatwoot's "Too many messages" window. */
const FLOOD_LIMIT = 5
const FLOOD_COUNT = 8

async function until (done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return true
}

const contentsOf = async (chatwoot: ChatwootSimulator, account: CreatedAccount, identifier: string) => (await chatwoot.query(
  `SELECT m.content FROM messages m JOIN conversations cv ON cv.id = m.conversation_id JOIN contacts c ON c.id = cv.contact_id
    WHERE c.identifier = $1 AND m.account_id = $2 ORDER BY m.id`, [identifier, account.accountId])).map((row) => row.content as string)

/**
 * Chatwoot answers 503 to every message for `downMs` while 6 messages are queued; the workers back off
 * and deliver them all, once and in order, when it comes back.
 */
export async function chatwootDown (chatwoot: ChatwootSimulator, account: CreatedAccount, post: Post, downMs = 3000): Promise<Outcome> {
  const dave = { identifier: '5511999990004@s.whatsapp.net', name: 'Dave' }
  chatwoot.faults.add({ method: 'POST', path: /\/messages$/, status: 503, times: Infinity })
  const before = chatwoot.requests.length
  const sent = Array.from({ length: 6 }, (_, index) => `queued while down ${index + 1}`)
  const answers: Array<Awaited<ReturnType<Post>>> = []
  for (const content of sent) answers.push(await post('/instances/acme/messages?queue=1', { contact: dave, message: { content } }))
  await new Promise((resolve) => setTimeout(resolve, downMs))
  const refused = chatwoot.requests.slice(before).filter((request) => request.status === 503).length
  chatwoot.faults.clear()
  console.log(`   ${answers.filter((answer) => answer.status === 202).length} answered 202 (queued); Chatwoot refused ${refused} attempt(s) in ${downMs / 1000} s, then came back`)
  const delivered = await until(async () => (await contentsOf(chatwoot, account, dave.identifier)).length >= sent.length, 20_000)
  const stored = await contentsOf(chatwoot, account, dave.identifier)
  return {
    step: 'Chatwoot down, then back',
    expected: '202 each, all 6 delivered after, in order',
    observed: `${answers.filter((answer) => answer.status === 202).length} x 202, ${refused} refused attempts, ${stored.length} stored${delivered ? '' : ' (timed out)'}, ${JSON.stringify(stored) === JSON.stringify(sent) ? 'in order' : 'OUT OF ORDER'}`,
    ok: answers.every((answer) => answer.status === 202) && refused > 0 && JSON.stringify(stored) === JSON.stringify(sent)
  }
}

/**
 * A second Chatwoot that takes FLOOD_LIMIT messages a minute per conversation. Started early and
 * checked last: its window is a minute long, and the other steps run meanwhile.
 */
export async function startFlood (post: Post, database: string | undefined) {
  const chatwoot = await createChatwootSimulator({ messagesPerMinute: FLOOD_LIMIT, ...(database === undefined ? {} : { database }) })
  try {
    const account = await chatwoot.createAccount()
    const added = await post('/instances', {
      name: 'limited', chatwootUrl: chatwoot.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token, databaseUrl: chatwoot.databaseUrl
    })
    if (added.status !== 201) throw new Error(`adding the instance "limited" failed: ${added.text}`)
    const erin = { identifier: '5511999990005@s.whatsapp.net', name: 'Erin' }
    const sent = Array.from({ length: FLOOD_COUNT }, (_, index) => `flood ${index + 1} of ${FLOOD_COUNT}`)
    const answers: Array<Awaited<ReturnType<Post>>> = []
    for (const content of sent) answers.push(await post('/instances/limited/messages?queue=1', { contact: erin, message: { content } }))
    const started = Date.now()
    console.log(`   ${FLOOD_COUNT} messages to Erin queued on instance "limited", whose Chatwoot takes ${FLOOD_LIMIT} a minute per conversation; checked at the end`)
    return {
      async check (): Promise<Outcome> {
        try {
          const delivered = await until(async () => (await contentsOf(chatwoot, account, erin.identifier)).length >= FLOOD_COUNT, 75_000)
          const stored = await contentsOf(chatwoot, account, erin.identifier)
          const refused = chatwoot.requests.filter((request) => request.status === 422).length
          const seconds = ((Date.now() - started) / 1000).toFixed(0)
          console.log(`   Erin's ${stored.length} messages stored in ${seconds} s; Chatwoot refused ${refused} post(s) as too many, each waited for the window`)
          return {
            step: `flood under ${FLOOD_LIMIT}/min`,
            expected: `202 each, all ${FLOOD_COUNT} delivered, paced, in order`,
            observed: `${answers.filter((answer) => answer.status === 202).length} x 202, ${stored.length} stored in ${seconds} s${delivered ? '' : ' (timed out)'}, ${refused} refused, ${JSON.stringify(stored) === JSON.stringify(sent) ? 'in order' : 'OUT OF ORDER'}`,
            ok: answers.every((answer) => answer.status === 202) && JSON.stringify(stored) === JSON.stringify(sent) && refused <= 2
          }
        } finally {
          await chatwoot.close()
        }
      }
    }
  } catch (error) {
    await chatwoot.close()
    throw error
  }
}
