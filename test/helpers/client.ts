import { ChatwootClient, type ChatwootClientOptions, type RetryOptions } from '../../lib/client/index.js'
import { simulatedAccount } from './simulator.js'

export type Teardown = { teardown: (fn: () => unknown) => void }

// Short waits: the tests check counts and outcomes, not the default timings.
export const QUICK: RetryOptions = { maxRetries: 3, minDelayMs: 1, maxDelayMs: 20, jitter: false }

/** A simulator with one account, and a client on it closed when the test ends. */
export async function withClient (t: Teardown, retry: RetryOptions = QUICK, options: Partial<ChatwootClientOptions> = {}) {
  const { sim, account, call } = await simulatedAccount(t)
  const client = new ChatwootClient({ url: sim.url, accountId: account.accountId, token: account.token, retry, ...options })
  t.teardown(() => client.close())
  return { sim, account, call, client }
}
