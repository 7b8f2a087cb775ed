import type pg from 'pg'
import type { Principal } from './data/accounts.js'
import type { DelayedDeletes } from './deletions.js'

/** What every route of the simulator shares. */
export interface SimulatorContext {
  readonly pool: pg.Pool
  readonly messagesPerMinute: number
  /** Conversation deletes waiting for their job, as Chatwoot's DeleteObjectJob. */
  readonly deletes: DelayedDeletes
  /** The simulator's own URL, known once it listens (attachment links use it). */
  baseUrl (): string
  /** Tokens never change once made; caching them keeps auth off the hot path's queries. */
  readonly principals: Map<string, Principal>
  /** Account id -> suspended, for accounts that exist; kept off the hot path, changed through the simulator. */
  readonly suspendedAccounts: Map<number, boolean>
}

/** Per route: whether Chatwoot lets an agent bot's token in, and whether the action is for administrators. */
export interface ChatwootRouteConfig {
  bots?: boolean
  administrators?: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal
    accountId: number
  }
}
