import type { ChatwootClient } from '../client/client.js'
import type { MessageStatus } from '../client/types.js'

export interface StatusTarget {
  conversationId: number
  messageId: number
}

// Chatwoot stores external_error as text shown to agents; a stack or a whole HTML page is no help there.
const MAX_REASON = 500

/** The reason an agent sees for a failed reply: the handler error's code and message, cut short. */
export function failureReason (error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown, message?: unknown }
  const text = typeof message === 'string' && message !== '' ? message : String(error)
  const reason = typeof code === 'string' ? `${code}: ${text}` : text
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason
}

export type StatusOutcome = 'updated' | 'noted' | 'refused'

/**
 * Sets a message's status in Chatwoot. Only API inboxes accept it (403 elsewhere): there a failure
 * still reaches the agents as a private note, and a receipt (sent, delivered, read) is dropped, as a
 * note per receipt would bury the conversation.
 */
export async function setStatus (client: ChatwootClient, target: StatusTarget, status: MessageStatus, reason?: string): Promise<StatusOutcome> {
  const { conversationId, messageId } = target
  try {
    await client.updateMessageStatus(conversationId, messageId, status === 'failed' ? { status, external_error: reason ?? 'failed' } : { status })
    return 'updated'
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'FST_CHATWOOT_UNAUTHORIZED') throw error
    if (status !== 'failed') return 'refused'
    await client.createMessage(conversationId, {
      content: `Reply #${messageId} was not delivered to the customer: ${reason ?? 'failed'}`,
      message_type: 'outgoing',
      private: true
    })
    return 'noted'
  }
}
