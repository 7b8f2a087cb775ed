import { digest } from '../../lib/conversations/chatwoot-identity.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { instanceOf } from './gateway.js'

/**
 * The conversation key the plugin documents, `${keyPrefix}{instance:chatwoot:account:inbox:contactKey}:conversation`,
 * where `chatwoot` is the digest of the simulator's URL and its API inbox's identifier.
 */
export async function conversationKey (sim: ChatwootSimulator, prefix: string, instance: string, account: CreatedAccount, identifier: string) {
  const [inbox] = await sim.query<{ identifier: string }>(
    'SELECT a.identifier FROM inboxes i JOIN channel_api a ON a.id = i.channel_id WHERE i.id = $1', [account.inboxId])
  const url = new URL(instanceOf(sim, account).chatwoot.url).toString().replace(/\/+$/, '')
  const chatwoot = encodeURIComponent(digest(url, inbox?.identifier ?? ''))
  return `${prefix}{${instance}:${chatwoot}:${account.accountId}:${account.inboxId}:${identifier}}:conversation`
}
