import type { FastifyInstance } from 'fastify'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { chatwootOutbox, type OutboxMembers } from '../../lib/outbox/plugin.js'
import type { ChatwootOutboxOptions } from '../../lib/outbox/options.js'
import { gateway, type GatewayOptions, instanceOf, QUICK_RETRY } from '../helpers/gateway.js'
import { testDatabase } from '../helpers/app.js'

type Teardown = { teardown: (fn: () => unknown) => void }

/** The outbox's members of an app's root scope. */
export const outboxOf = (app: FastifyInstance): OutboxMembers => app.chatwoot

/** Quick timings for tests: a lost answer or a 500 is tried again within a few tens of milliseconds. */
export const QUICK_OUTBOX: ChatwootOutboxOptions = {
  pollMs: 20,
  backoffMinMs: 20,
  backoffMaxMs: 100,
  slowChatwootMs: 200,
  leaseMs: 2000,
  clientTimeoutMs: 500,
  maintenanceMs: 100
}

export interface OutboxAppOptions extends Omit<GatewayOptions, 'setup'> {
  /** The outbox's database; default a fresh one for this test. */
  databaseUrl?: string
  outbox?: ChatwootOutboxOptions
  /** Routes registered after the outbox. */
  routes?: (app: FastifyInstance) => unknown
}

/** A gateway with chatwootOutbox on a throwaway database, closed at teardown. */
export async function outboxApp (t: Teardown, options: OutboxAppOptions) {
  const databaseUrl = options.databaseUrl ?? (await testDatabase(t)).url
  const built = await gateway(t, {
    client: { retry: QUICK_RETRY, timeoutMs: 500 },
    ...options,
    setup: async (app) => {
      await app.register(chatwootOutbox, { connectionString: databaseUrl, ...QUICK_OUTBOX, ...options.outbox })
      await options.routes?.(app)
    }
  })
  return { ...built, databaseUrl, outbox: outboxOf(built.app) }
}

/** The incoming messages of a contact's conversations, oldest first, as Chatwoot stores them. */
export async function messagesOf (sim: ChatwootSimulator, account: CreatedAccount, identifier: string) {
  return sim.query<{ source_id: string, content: string, display_id: number }>(`
    SELECT m.source_id, m.content, c.display_id FROM messages m
      JOIN conversations c ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id
     WHERE m.account_id = $1 AND ct.identifier = $2 AND m.message_type = 0 ORDER BY m.id`, [account.accountId, identifier])
}

/** Polls until `done` answers true, or fails the wait after `timeoutMs`. */
export async function until (done: () => Promise<boolean>, timeoutMs = 15_000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

export { instanceOf }
