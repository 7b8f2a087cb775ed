import type { Contact, Message } from '../client/types.js'
import type { CachedConversation } from './store.js'

type Person = Pick<Contact, 'identifier' | 'phone_number' | 'email'>

/** Who a contact is beyond its id (ids restart in a restored database): identifier, else phone, else email. */
export function whoOf (contact: Partial<Person> | null | undefined): string {
  return contact?.identifier || contact?.phone_number || contact?.email?.toLowerCase() || ''
}

/**
 * Whether Chatwoot's answer shows the message in the cached contact's conversation. Chatwoot answers every
 * message but an outgoing one with the conversation's contact as `sender`; an answer with no contact sender
 * (an outgoing message, an older Chatwoot) cannot be checked and passes. Costs no I/O: it runs on every answer.
 */
export function senderMatches (cached: CachedConversation, answer: Message): boolean {
  const sender = answer.sender as (Partial<Person> & { id?: unknown, type?: unknown }) | null | undefined
  if (answer.message_type === 1 || sender === null || typeof sender !== 'object' || typeof sender.id !== 'number') return true
  if (sender.type !== undefined && sender.type !== 'contact') return true
  if (sender.id !== cached.contactId) return false
  return cached.who === undefined || cached.who === '' || whoOf(sender) === cached.who
}
