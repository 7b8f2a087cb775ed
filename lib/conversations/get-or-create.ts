import type { ChatwootClient } from '../client/client.js'
import { ChatwootError } from '../client/errors.js'
import type { Contact, Conversation } from '../client/types.js'
import { whoOf } from './sender-check.js'
import type { CachedConversation } from './store.js'

export interface DeliveryContact {
  identifier: string
  name?: string
  phone_number?: string
  email?: string
  avatar_url?: string
  additional_attributes?: Record<string, unknown>
}

export interface ConversationPolicy {
  /** 'open-or-pending': the contact's newest open or pending conversation in the inbox; 'never': always a new one. */
  reuse: 'open-or-pending' | 'never'
  /** Reopen the newest resolved conversation instead of creating one. */
  reopenResolved: boolean
  createStatus: 'open' | 'pending'
}

/** The contact Chatwoot holds for `contact`: by identifier, then by phone number. */
export async function findContact (client: ChatwootClient, contact: DeliveryContact): Promise<Contact | undefined> {
  const by = async (attribute: 'identifier' | 'phone_number', value: string | undefined) => {
    if (value === undefined || value === '') return undefined
    const page = await client.filterContacts([{ attribute_key: attribute, filter_operator: 'equal_to', values: [value] }])
    return page.payload[0]
  }
  return await by('identifier', contact.identifier) ?? await by('phone_number', contact.phone_number)
}

async function findOrCreateContact (client: ChatwootClient, inboxId: number, contact: DeliveryContact) {
  const found = await findContact(client, contact)
  if (found !== undefined) return { contact: found, sourceId: undefined }
  try {
    const created = await client.createContact({ ...contact, inbox_id: inboxId })
    return { contact: created.payload.contact, sourceId: created.payload.contact_inbox.source_id ?? undefined }
  } catch (error) {
    // Another process (or a process without the lock while Redis was down) created it first:
    // Chatwoot answers 422 "taken", or 500 on a unique-index race. Either way it exists now.
    if (error instanceof ChatwootError && (error.code === 'FST_CHATWOOT_VALIDATION' || error.code === 'FST_CHATWOOT_SERVER')) {
      const raced = await findContact(client, contact)
      if (raced !== undefined) return { contact: raced, sourceId: undefined }
    }
    throw error
  }
}

function pick (conversations: Conversation[], inboxId: number, policy: ConversationPolicy) {
  const inInbox = conversations.filter((conversation) => conversation.inbox_id === inboxId)
  if (policy.reuse === 'never') return { reuse: undefined, reopen: undefined }
  // Chatwoot lists them newest activity first.
  const reuse = inInbox.find((conversation) => conversation.status === 'open' || conversation.status === 'pending')
  const reopen = policy.reopenResolved ? inInbox.find((conversation) => conversation.status === 'resolved') : undefined
  return { reuse, reopen }
}

/**
 * Finds the contact (by identifier, then phone) or creates it with its contact_inbox; takes its
 * contact_inbox's source_id for the inbox (never letting Chatwoot make an orphan second one);
 * reuses a conversation by policy or creates one on that source_id.
 */
export async function getOrCreateConversation (client: ChatwootClient, inboxId: number, contact: DeliveryContact,
  policy: ConversationPolicy): Promise<CachedConversation> {
  const found = await findOrCreateContact(client, inboxId, contact)
  const contactId = found.contact.id
  // Who the contact is as Chatwoot returned it, not as the caller sent it (a contact found by phone can carry another identifier).
  const who = whoOf(found.contact)
  let sourceId = found.sourceId ?? found.contact.contact_inboxes?.find((contactInbox) => contactInbox.inbox?.id === inboxId)?.source_id
  if (sourceId === undefined) {
    sourceId = (await client.createContactInbox(contactId, { inbox_id: inboxId })).source_id
  }
  if (found.sourceId === undefined) {
    const { reuse, reopen } = pick((await client.contactConversations(contactId)).payload, inboxId, policy)
    if (reuse !== undefined) return { conversationId: reuse.id, contactId, who }
    if (reopen !== undefined) {
      await client.toggleConversationStatus(reopen.id, { status: 'open' })
      return { conversationId: reopen.id, contactId, who }
    }
  }
  const conversation = await client.createConversation({ inbox_id: inboxId, contact_id: contactId, source_id: sourceId, status: policy.createStatus })
  return { conversationId: conversation.id, contactId, who }
}
