import { type Dispatcher, type FormData, request as undiciRequest } from 'undici'
import {
  type ChatwootSimulator, type ChatwootSimulatorOptions, type CreatedAccount, createChatwootSimulator, serverUrl
} from '../../lib/testing/index.js'

export const NOT_FOUND = { error: 'Resource could not be found' }

/** A simulator on the test Postgres server (its own fresh database), closed when the test ends. */
export async function startSimulator (t: { teardown: (fn: () => unknown) => void },
  options: ChatwootSimulatorOptions = {}): Promise<ChatwootSimulator> {
  const sim = await createChatwootSimulator({ database: serverUrl(), ...options })
  t.teardown(() => sim.close())
  return sim
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** Parsed JSON when the answer is JSON, else the text. */
  body: any
  text: string
}

export interface CallOptions {
  body?: unknown
  /** Default: the account's admin token; `null` sends no api_access_token header. */
  token?: string | null
  /** A raw body sent as is, with `contentType`. */
  raw?: string | Buffer
  contentType?: string
  /** undici's FormData: Node 20's global one comes from Node's own copy of undici, which undici 7 cannot send. */
  form?: FormData
}

/** Calls the simulator's Application API for one account, as a gateway would, over real HTTP. */
export function chatwootApi (sim: ChatwootSimulator, account: CreatedAccount, accountId = account.accountId) {
  return async function call (method: string, path: string, options: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = {}
    const token = options.token === undefined ? account.token : options.token
    if (token !== null) headers.api_access_token = token
    let body: string | Buffer | FormData | undefined
    if (options.form !== undefined) {
      body = options.form
    } else if (options.raw !== undefined) {
      body = options.raw
      headers['content-type'] = options.contentType ?? 'application/json'
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body)
      headers['content-type'] = 'application/json'
    }
    const response = await undiciRequest(`${sim.url}/api/v1/accounts/${accountId}${path}`, {
      method: method as Dispatcher.HttpMethod, headers, body
    })
    const text = await response.body.text()
    const json = String(response.headers['content-type'] ?? '').startsWith('application/json') && text !== ''
    return { status: response.statusCode, headers: response.headers, body: json ? JSON.parse(text) : text, text }
  }
}

/** A contact with a contact_inbox in the account's inbox, and a conversation on that source_id. */
export async function contactWithConversation (call: ReturnType<typeof chatwootApi>, inboxId: number, identifier: string) {
  const contact = await call('POST', '/contacts', { body: { name: identifier, identifier, inbox_id: inboxId } })
  if (contact.status !== 200) throw new Error(`contact create answered ${contact.status}: ${contact.text}`)
  const sourceId: string = contact.body.payload.contact_inbox.source_id
  const conversation = await call('POST', '/conversations', {
    body: { contact_id: contact.body.payload.contact.id, inbox_id: inboxId, source_id: sourceId }
  })
  if (conversation.status !== 200) throw new Error(`conversation create answered ${conversation.status}: ${conversation.text}`)
  return { contactId: contact.body.payload.contact.id as number, sourceId, displayId: conversation.body.id as number }
}

/** The usual start of a test: a simulator, one account in it, and a caller with the account's admin token. */
export async function simulatedAccount (t: { teardown: (fn: () => unknown) => void }, options: ChatwootSimulatorOptions = {}) {
  const sim = await startSimulator(t, options)
  const account = await sim.createAccount()
  return { sim, account, call: chatwootApi(sim, account) }
}
