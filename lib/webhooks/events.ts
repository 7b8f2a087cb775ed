/** A message as Chatwoot's webhook payload carries it: `message_type` is a string here, unlike REST. */
export interface WebhookMessage {
  id: number
  content?: string | null
  message_type: 'incoming' | 'outgoing' | 'activity' | 'template' | string
  private?: boolean
  source_id?: string | null
  content_type?: string
  content_attributes?: Record<string, unknown>
  attachments?: unknown[]
  conversation: { id?: number, display_id?: number, status?: string, contact_inbox?: { source_id?: string } } & Record<string, unknown>
  sender?: Record<string, unknown> | null
  account?: { id: number }
  inbox?: { id: number }
  [key: string]: unknown
}

export type WebhookAction =
  | { action: 'agent-message', message: WebhookMessage, conversationId: number }
  | { action: 'status-changed', conversationId: number, status: string | undefined, payload: Record<string, unknown> }
  | { action: 'ignored', reason: string }

/** Recognises the gateway's own posts coming back (CONTRACT.md: an API inbox hears its own messages). */
export type IsEcho = (message: WebhookMessage) => boolean

/**
 * Default echo test: a message carrying a source_id. The gateway posts incoming messages (always with
 * one) and may mirror outgoing ones sent from the phone (with the caller's); Chatwoot gives an agent's
 * reply in an API inbox none, so a source_id means "we wrote this".
 */
export const hasSourceId: IsEcho = (message) => typeof message.source_id === 'string' && message.source_id !== ''

const FOR_THE_CUSTOMER = new Set(['outgoing', 'template'])

function conversationIdOf (conversation: unknown): number | undefined {
  if (typeof conversation !== 'object' || conversation === null) return undefined
  // The API's conversation id is the display_id; webhook payloads carry both, `id` being the display one.
  const { display_id: displayId, id } = conversation as { display_id?: unknown, id?: unknown }
  const value = displayId ?? id
  return Number.isSafeInteger(value) && (value as number) > 0 ? value as number : undefined
}

/** What one webhook asks of the gateway; pure, so every rule is tested without a server. */
export function classify (payload: Record<string, unknown>, isEcho: IsEcho): WebhookAction {
  const event = payload.event
  if (event === 'message_created') {
    const message = payload as unknown as WebhookMessage
    if (!Number.isSafeInteger(message.id)) return { action: 'ignored', reason: 'message_created without a message id' }
    if (!FOR_THE_CUSTOMER.has(message.message_type)) return { action: 'ignored', reason: `message_type ${String(message.message_type)}` }
    if (message.private === true) return { action: 'ignored', reason: 'private note' }
    if (isEcho(message)) return { action: 'ignored', reason: 'echo of the gateway\'s own post' }
    const conversationId = conversationIdOf(message.conversation)
    if (conversationId === undefined) return { action: 'ignored', reason: 'message_created without a conversation id' }
    return { action: 'agent-message', message, conversationId }
  }
  if (event === 'conversation_status_changed' || event === 'conversation_updated') {
    const conversationId = conversationIdOf(payload)
    if (conversationId === undefined) return { action: 'ignored', reason: `${event} without a conversation id` }
    return { action: 'status-changed', conversationId, status: typeof payload.status === 'string' ? payload.status : undefined, payload }
  }
  return { action: 'ignored', reason: `event ${typeof event === 'string' ? event : 'missing'}` }
}
