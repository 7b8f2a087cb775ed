// Shared set-up of the example gateway's route tests: a fresh gateway database, a simulated
// Chatwoot with one account, and examples/gateway's buildGateway on real Redis under a key prefix
// of the test's own. Not a test file (tap runs *.test.ts only).
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { type FormData, Response } from 'undici'
import { buildGateway, type GatewayOptions } from '../../examples/gateway/app.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { testDatabase } from '../helpers/app.js'
import { deleteKeys, QUICK_RETRY, REDIS_URL } from '../helpers/gateway.js'
import { startSimulator } from '../helpers/simulator.js'
import { requireServers } from '../setup/servers.js'

export type Teardown = { teardown: (fn: () => unknown) => void }

/**
 * A gateway as the brief's tests build it, closed at teardown after its Redis keys are removed.
 * `redis: false` builds it without redisUrl (in-process cache).
 */
export async function startGateway (t: Teardown, databaseUrl: string, options: Partial<GatewayOptions> & { keyPrefix?: string, redis?: boolean } = {}) {
  const { keyPrefix = `gw${randomUUID()}:`, redis = true, ...rest } = options
  if (redis) await requireServers('redis')
  const app = await buildGateway({
    databaseUrl,
    ...(redis ? { redisUrl: REDIS_URL } : {}),
    conversations: { keyPrefix },
    client: { retry: QUICK_RETRY },
    ...rest
  })
  // Teardowns run last-registered first: this one before the simulator's and the database's.
  t.teardown(async () => {
    if (app.hasDecorator('redis')) await deleteKeys(app.redis, keyPrefix).catch(() => {})
    await app.close()
  })
  return { app, keyPrefix }
}

/** The usual start: a gateway database, a simulator with one account, and a gateway on them (no instance yet). */
export async function setup (t: Teardown, options: Partial<GatewayOptions> & { keyPrefix?: string, redis?: boolean } = {}) {
  const db = await testDatabase(t)
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { app, keyPrefix } = await startGateway(t, db.url, options)
  return { db, sim, account, app, keyPrefix }
}

/** POST /instances's body for `account`; `extra` overrides fields. */
export function instanceBody (sim: ChatwootSimulator, account: CreatedAccount, extra: Record<string, unknown> = {}) {
  return { name: 'acme', chatwootUrl: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token, ...extra }
}

export async function addInstance (app: FastifyInstance, sim: ChatwootSimulator, account: CreatedAccount, extra: Record<string, unknown> = {}) {
  const answer = await app.inject({ method: 'POST', url: '/instances', payload: instanceBody(sim, account, extra) })
  if (answer.statusCode !== 201 && answer.statusCode !== 200) throw new Error(`POST /instances answered ${answer.statusCode}: ${answer.body}`)
  return answer
}

export function postMessage (app: FastifyInstance, payload: unknown, instance = 'acme'): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: `/instances/${instance}/messages`, payload: payload as Record<string, unknown> })
}

/** A text message of `identifier`. */
export const message = (identifier: string, content: string, extra: Record<string, unknown> = {}) =>
  ({ contact: { identifier, name: `Contact ${identifier}` }, message: { content, ...extra } })

/** undici's FormData as inject's payload and content type (boundary included). */
export async function multipart (form: FormData) {
  const encoded = new Response(form)
  return { payload: Buffer.from(await encoded.arrayBuffer()), headers: { 'content-type': encoded.headers.get('content-type')! } }
}

/** Row counts of one account in the simulator's tables. */
export async function tally (sim: ChatwootSimulator, account: CreatedAccount) {
  const [row] = await sim.query<{ contacts: number, conversations: number, messages: number, attachments: number }>(
    `SELECT (SELECT count(*)::int FROM contacts WHERE account_id = $1) AS contacts,
            (SELECT count(*)::int FROM conversations WHERE account_id = $1) AS conversations,
            (SELECT count(*)::int FROM messages WHERE account_id = $1) AS messages,
            (SELECT count(*)::int FROM attachments WHERE account_id = $1) AS attachments`, [account.accountId])
  return row!
}

export const EMPTY = { contacts: 0, conversations: 0, messages: 0, attachments: 0 }

/** The account's stored messages with their conversation's display id, in id order. */
export async function storedMessages (sim: ChatwootSimulator, account: CreatedAccount) {
  return sim.query<{ id: number, content: string | null, source_id: string | null, display_id: number, message_type: number, contact_id: number }>(
    `SELECT m.id, m.content, m.source_id, c.display_id, m.message_type, c.contact_id::int AS contact_id
       FROM messages m JOIN conversations c ON c.id = m.conversation_id
      WHERE m.account_id = $1 ORDER BY m.id`, [account.accountId])
}

/** The JSON answer, and its raw text for "does not contain" checks. */
export function answerOf (response: LightMyRequestResponse) {
  return { status: response.statusCode, body: response.json(), text: response.body }
}
