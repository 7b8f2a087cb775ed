import type { AddressInfo } from 'node:net'
import type { FastifyServerOptions } from 'fastify'
import type pg from 'pg'
import { buildSimulatorApp, type LoggedRequest } from './app.js'
import type { SimulatorContext } from './context.js'
import { createAccount, createInbox, type CreatedAccount, type NewInbox, setAccountSuspended } from './data/accounts.js'
import { deleteConversation } from './data/conversations.js'
import { DelayedDeletes } from './deletions.js'
import { openEmbeddedDatabase, openServerDatabase } from './database.js'
import { SimulatorOptionsInvalidError } from './errors.js'
import { Faults } from './faults.js'
import { type RateLimitOptions, RateLimits } from './rate-limits.js'
import { type SimulatorWebhooksOptions, WebhookSender } from './webhooks.js'

export interface ChatwootSimulatorOptions {
  /** A connection string to a Postgres server: the simulator makes a fresh database there and drops it on close. Without it, an embedded PGlite. */
  database?: string
  /** Default 0: any free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Messages one conversation accepts within a minute before Chatwoot's 422 "Too many messages". Default 200. */
  messagesPerMinute?: number
  /**
   * How long after a conversation DELETE (answered 200 at once) its rows go, as Chatwoot's
   * DeleteObjectJob. Default 1000; 0 deletes inside the request.
   */
  conversationDeleteDelayMs?: number
  /** rack-attack's throttles, answered 429 `Retry later\n` as text/plain. Default off; unlike Chatwoot, loopback is throttled too. */
  rateLimits?: RateLimitOptions
  /** A Fastify logger option for the simulator's own server. Default off. */
  logger?: FastifyServerOptions['logger']
  /** Send webhooks (message_created, conversation_status_changed) there, as Chatwoot does. Default none. */
  webhooks?: SimulatorWebhooksOptions
}

export interface CreateAccountOptions {
  inboxName?: string
  /** The first inbox's channel: default `Channel::Api`; also `Channel::Whatsapp`, `Channel::Sms`, `Channel::Email`, `Channel::WebWidget`. */
  channelType?: string
  lockToSingleConversation?: boolean
  /** Connects the account's agent bot to the first inbox: new conversations start pending, resolved ones reopen as pending. */
  activeBot?: boolean
}

export interface CreateInboxOptions {
  name?: string
  /** Default `Channel::Api`. Chatwoot accepts incoming messages through the API only into API inboxes. */
  channelType?: string
  lockToSingleConversation?: boolean
  /** Connects the account's agent bot to the inbox, active. */
  activeBot?: boolean
}

export interface ChatwootSimulator {
  readonly url: string
  readonly databaseUrl: string
  readonly faults: Pick<Faults, 'add' | 'clear' | 'pending'>
  /** Every request answered (or dropped), oldest first; clear it with `requests.length = 0`. */
  readonly requests: LoggedRequest[]
  /** With option `webhooks`: the deliveries attempted, faults (drop, double), idle(). */
  readonly webhooks: WebhookSender | undefined
  createAccount (options?: CreateAccountOptions): Promise<CreatedAccount>
  createInbox (accountId: number, options?: CreateInboxOptions): Promise<number>
  /** Suspends the account (Account#status), or with `false` makes it active again: every call to it answers 401 `Account is suspended`. */
  suspendAccount (accountId: number, suspended?: boolean): Promise<void>
  /** A hard delete at once, as an administrator's delete ends; false when there was no such conversation. */
  deleteConversation (accountId: number, displayId: number): Promise<boolean>
  /** Runs the conversation deletes still waiting for their job now; resolves to how many conversations went. */
  runPendingDeletes (): Promise<number>
  /** Runs SQL on the simulator's Chatwoot database (tests check rows with it). */
  query<R extends pg.QueryResultRow = any> (text: string, values?: unknown[]): Promise<R[]>
  close (): Promise<void>
}

type Validated = Required<Pick<ChatwootSimulatorOptions, 'port' | 'host' | 'messagesPerMinute' | 'conversationDeleteDelayMs'>>

function validate (options: ChatwootSimulatorOptions): Validated {
  const { port = 0, host = '127.0.0.1', messagesPerMinute = 200, conversationDeleteDelayMs = 1000, database } = options
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new SimulatorOptionsInvalidError('port', `expected an integer from 0 to 65535, got ${String(port)}`)
  }
  if (typeof host !== 'string' || host === '') throw new SimulatorOptionsInvalidError('host', `expected a host name, got ${String(host)}`)
  if (!(Number.isInteger(messagesPerMinute) && messagesPerMinute > 0)) {
    throw new SimulatorOptionsInvalidError('messagesPerMinute', `expected a positive integer, got ${String(messagesPerMinute)}`)
  }
  if (database !== undefined && (typeof database !== 'string' || !/^postgres(ql)?:\/\//.test(database))) {
    throw new SimulatorOptionsInvalidError('database', 'expected a postgres:// connection string')
  }
  if (!(Number.isInteger(conversationDeleteDelayMs) && conversationDeleteDelayMs >= 0 && conversationDeleteDelayMs <= 2 ** 31 - 1)) {
    throw new SimulatorOptionsInvalidError('conversationDeleteDelayMs',
      `expected a whole number of milliseconds from 0 to 2147483647, got ${String(conversationDeleteDelayMs)}`)
  }
  return { port, host, messagesPerMinute, conversationDeleteDelayMs }
}

/** A Chatwoot v4.9.1 look-alike on a real HTTP port, storing its data in Chatwoot's tables. */
export async function createChatwootSimulator (options: ChatwootSimulatorOptions = {}): Promise<ChatwootSimulator> {
  const { port, host, messagesPerMinute, conversationDeleteDelayMs } = validate(options)
  const rateLimits = new RateLimits(options.rateLimits)
  const database = options.database === undefined ? await openEmbeddedDatabase() : await openServerDatabase(options.database)
  let url = ''
  const deletes = new DelayedDeletes(database.pool, conversationDeleteDelayMs)
  const context: SimulatorContext = {
    pool: database.pool, messagesPerMinute, deletes, baseUrl: () => url, principals: new Map(), suspendedAccounts: new Map()
  }
  const faults = new Faults()
  const requests: LoggedRequest[] = []
  const webhooks = options.webhooks === undefined ? undefined : new WebhookSender(options.webhooks)
  const app = buildSimulatorApp({ context, faults, requests, rateLimits, logger: options.logger, webhooks })
  try {
    await app.listen({ port, host })
  } catch (error) {
    await database.close()
    throw error
  }
  const address = app.server.address() as AddressInfo
  url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`

  return {
    url,
    databaseUrl: database.url,
    faults,
    requests,
    webhooks,
    createAccount: ({ inboxName, channelType, lockToSingleConversation, activeBot } = {}) =>
      createAccount(database.pool, { name: inboxName, channelType, lockToSingleConversation, activeBot }),
    createInbox: async (accountId, inbox: NewInbox = {}) => {
      const inboxId = await createInbox(database.pool, accountId, inbox)
      // A bot's accounts are read once per token: an inbox connected to it can add one.
      context.principals.clear()
      return inboxId
    },
    async suspendAccount (accountId, suspended = true) {
      await setAccountSuspended(database.pool, accountId, suspended)
      context.suspendedAccounts.delete(accountId)
    },
    deleteConversation: (accountId, displayId) => deleteConversation(database.pool, accountId, displayId),
    runPendingDeletes: () => deletes.flush(),
    query: async (text, values) => (await database.pool.query(text, values)).rows,
    async close () {
      deletes.clear()
      await webhooks?.close()
      await app.close()
      await database.close()
    }
  }
}

export type { FaultSpec } from './faults.js'
export type { RateLimitOptions } from './rate-limits.js'
export type { LoggedRequest } from './app.js'
export type { CreatedAccount } from './data/accounts.js'
export { SimulatorEmbeddedUnavailableError, SimulatorOptionsInvalidError } from './errors.js'
