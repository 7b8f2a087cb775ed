// The conversation cache follows what agents do in Chatwoot: a resolved conversation is forgotten, so the
// contact's next message goes where the conversation policy sends a new one (a new conversation, or the
// reopened one) at once, rather than into the resolved one, or after a 404 once it is deleted.
import type { DeliveryContact } from '../conversations/get-or-create.js'

export type Evict = (instance: string, contact: DeliveryContact, conversationId?: number) => Promise<void>

export type Followed = { action: 'evicted' } | { action: 'ignored', reason: string }

const text = (value: unknown) => typeof value === 'string' && value !== '' ? value : undefined

/** The contact of a conversation payload (`meta.sender`), as deliveries name it; undefined without an identifier. */
export function contactOf (payload: Record<string, unknown>): DeliveryContact | undefined {
  const meta = payload.meta as { sender?: unknown } | undefined
  const sender = (typeof meta === 'object' && meta !== null ? meta.sender : undefined) as Record<string, unknown> | undefined | null
  if (typeof sender !== 'object' || sender === null) return undefined
  const identifier = text(sender.identifier)
  if (identifier === undefined) return undefined
  const contact: DeliveryContact = { identifier }
  const phone = text(sender.phone_number)
  const email = text(sender.email)
  if (phone !== undefined) contact.phone_number = phone
  if (email !== undefined) contact.email = email
  return contact
}

/** conversation_updated is sent for labels, assignees, attributes...: only a status change among its changes counts. */
function statusChanged (payload: Record<string, unknown>): boolean {
  if (payload.event !== 'conversation_updated' || !Array.isArray(payload.changed_attributes)) return true
  return payload.changed_attributes.some((change) => typeof change === 'object' && change !== null && 'status' in change)
}

export interface StatusChange {
  instance: string
  /** The instance's inbox: an account webhook also reports the account's other inboxes. */
  inboxId: number
  status: string | undefined
  payload: Record<string, unknown>
}

/**
 * Evicts the contact's cached conversation when its conversation was resolved, only while it is the one
 * cached (a late event about an older conversation leaves a newer one alone). Evicted whatever the policy:
 * with `reopenResolved` the next delivery finds the same conversation again (one lookup more), with the
 * default a new one is made, where keeping it would have reopened the resolved one.
 */
export async function followStatus (change: StatusChange, evict: Evict | undefined): Promise<Followed> {
  const { instance, inboxId, status, payload } = change
  if (evict === undefined) return { action: 'ignored', reason: 'no conversation cache (chatwootConversations) to follow' }
  if (status !== 'resolved') return { action: 'ignored', reason: `status ${status ?? 'missing'}` }
  if (!statusChanged(payload)) return { action: 'ignored', reason: 'conversation_updated without a status change' }
  if (payload.inbox_id !== undefined && payload.inbox_id !== inboxId) return { action: 'ignored', reason: 'another inbox' }
  const contact = contactOf(payload)
  if (contact === undefined) return { action: 'ignored', reason: 'no meta.sender.identifier to find the cached conversation by' }
  await evict(instance, contact, typeof payload.id === 'number' ? payload.id : undefined)
  return { action: 'evicted' }
}
