import { ChatwootError } from '../client/errors.js'
import type { CreateMessageInput } from '../client/operations.js'
import type { Message } from '../client/types.js'
import { MisrouteUnresolvedError } from '../errors.js'
import type { DeliveryCall } from './delivery-call.js'

interface Log { warn (object: object, message: string): void, error (object: object, message: string): void }

/**
 * A message that landed in another person's conversation (ids reused: a restored database, an instance
 * re-pointed at another Chatwoot): take it back where the token may (Chatwoot's delete is soft: the
 * content is replaced and attachments removed), forget that conversation, and deliver into the right one.
 */
export async function repost (call: DeliveryCall, wrong: Message, message: CreateMessageInput, log: Log): Promise<Message> {
  const { client, instance, count } = call.parts
  const misrouted = call.current
  count('misroutes', instance)
  log.error({ instance, conversationId: misrouted.conversationId, messageId: wrong.id },
    'a message landed in another contact\'s conversation (its cached id belongs to someone else now): deleting it there and delivering it again')
  try {
    await client.deleteMessage(misrouted.conversationId, wrong.id)
  } catch (error) {
    // A bot token may not delete: the agent sees the stray message, the customer's goes where it belongs.
    const code = error instanceof ChatwootError ? error.code : undefined
    log.warn({ instance, conversationId: misrouted.conversationId, messageId: wrong.id, code }, 'Chatwoot refused to delete the misrouted message')
  }
  const fresh = await call.moveToFresh()
  if (fresh.conversationId === misrouted.conversationId && fresh.contactId === misrouted.contactId) {
    throw new MisrouteUnresolvedError(instance, misrouted.conversationId)
  }
  call.recovered = true
  return call.post(message)
}
