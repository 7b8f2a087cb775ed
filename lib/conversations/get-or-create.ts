import type { ChatwootClient } from '../client/client.js'
import { ChatwootError } from '../client/errors.js'
import type { Contact, ContactFilter, Conversation } from '../client/types.js'
import { backfill, type BackfillReport, personPhone } from './backfill.js'
import { whoOf } from './sender-check.js'
import type { CachedConversation } from './store.js'

export interface DeliveryContact {
  identifier: string
  name?: string
  phone_number?: string
  email?: string
  avatar_url?: string
  additional_attributes?: Record<string, unknown>
  /** Other ids of the same person (identifiers in the same space as `identifier`), as far as the caller knows now. */
  aliases?: string[]
}

export interface IdentityPolicy {
  /** Every id of the person (the delivery's own first), for the search in Chatwoot. */
  ids: readonly string[]
  /** Merge contacts found to be one person into the survivor (Chatwoot's contact merge). */
  merge: boolean
  /** Told of a convergence (two or more contacts found for one person). */
  converged?: (survivor: Contact, others: Contact[]) => void
  /** Told of each update that gives a found contact its missing phone number or aliases, and of each refusal. */
  backfilled?: BackfillReport
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

/**
 * Every contact Chatwoot holds under any id of the person or its phone number, in ONE filter call: Chatwoot's
 * equal_to reads only values[0], so one condition per value, joined by OR (CONTRACT.md, contacts filter).
 */
export async function findContacts (client: ChatwootClient, contact: DeliveryContact, ids: readonly string[]): Promise<Contact[]> {
  const filters: ContactFilter[] = [...new Set(ids)].filter((id) => id !== '')
    .map((id) => ({ attribute_key: 'identifier', filter_operator: 'equal_to', values: [id], query_operator: 'or' }))
  if (contact.phone_number !== undefined && contact.phone_number !== null && contact.phone_number !== '') {
    filters.push({ attribute_key: 'phone_number', filter_operator: 'equal_to', values: [contact.phone_number] })
  }
  const page = await client.filterContacts(filters)
  return page.payload
}

/** The newest activity among the contact's conversations in the inbox, 0 when it has none there. */
async function lastActivity (client: ChatwootClient, contactId: number, inboxId: number): Promise<number> {
  const { payload } = await client.contactConversations(contactId)
  return Math.max(0, ...payload.filter((conversation) => conversation.inbox_id === inboxId).map((conversation) => conversation.last_activity_at ?? 0))
}

const hasPhone = (contact: Contact) => typeof contact.phone_number === 'string' && contact.phone_number !== ''

/**
 * Two or more contacts are one person (a late mapping): the one whose conversation in the inbox had the
 * latest activity survives (the agent is most likely answering there), ties to the one with a phone number
 * (it can be written to outside the channel), then the oldest. With merge, the others are merged into it
 * (Chatwoot moves their conversations to it and destroys them); without, they are left as they are.
 */
async function converge (client: ChatwootClient, inboxId: number, contacts: Contact[], identity: IdentityPolicy): Promise<Contact> {
  const ranked = await Promise.all(contacts.map(async (contact) => ({ contact, activity: await lastActivity(client, contact.id, inboxId) })))
  ranked.sort((a, b) => (b.activity - a.activity) || (Number(hasPhone(b.contact)) - Number(hasPhone(a.contact))) || (a.contact.id - b.contact.id))
  let survivor = ranked[0]!.contact
  const others = ranked.slice(1).map(({ contact }) => contact)
  identity.converged?.(survivor, others)
  if (!identity.merge) return survivor
  // One at a time: a merge is not re-sent after a lost answer, so a failure stops here and the next delivery
  // finds what is left to merge (a merged-away contact is gone, and found no more).
  for (const other of others) survivor = await client.mergeContacts(survivor.id, other.id)
  // The merge answer carries no contact_inboxes: read the survivor as the filter shows it.
  const { id, identifier, phone_number: phone } = survivor
  const again = await findContacts(client, { identifier: identifier ?? '', phone_number: phone ?? undefined }, [identifier ?? ''])
  return again.find((found) => found.id === id) ?? survivor
}

async function findOrCreateContact (client: ChatwootClient, inboxId: number, delivered: DeliveryContact, identity?: IdentityPolicy) {
  const { aliases, ...given } = delivered
  let contact = given
  if (identity !== undefined && identity.ids.length > 1) {
    // A phone id is the person's phone number: searched, given to a new contact, backfilled on a found one.
    const phone = personPhone(given.phone_number, identity.ids)
    if (phone !== undefined) contact = { ...given, phone_number: phone }
    const found = await findContacts(client, contact, identity.ids)
    if (found.length > 0) {
      const survivor = found.length === 1 ? found[0]! : await converge(client, inboxId, found, identity)
      // Without merge the others stay: one holding the phone would refuse it to the survivor on every cache miss.
      const held = !identity.merge && found.some((other) => other.id !== survivor.id && other.phone_number === phone)
      return { contact: await backfill(client, survivor, held ? undefined : phone, identity.ids, identity.backfilled), sourceId: undefined }
    }
  } else {
    const found = await findContact(client, contact)
    if (found !== undefined) return { contact: found, sourceId: undefined }
  }
  try {
    // The aliases are recorded on the contact, where agents see them; the link itself lives in the alias map.
    const others = (identity?.ids ?? aliases ?? []).filter((id) => id !== contact.identifier)
    const input = others.length === 0 ? contact : { ...contact, additional_attributes: { ...contact.additional_attributes, aliases: others } }
    const created = await client.createContact({ ...input, inbox_id: inboxId })
    return { contact: created.payload.contact, sourceId: created.payload.contact_inbox.source_id ?? undefined }
  } catch (error) {
    // Another process (or a process without the lock while Redis was down) created it first:
    // Chatwoot answers 422 "taken", or 500 on a unique-index race. Either way it exists now.
    if (error instanceof ChatwootError && (error.code === 'FST_CHATWOOT_VALIDATION' || error.code === 'FST_CHATWOOT_SERVER')) {
      const raced = identity !== undefined && identity.ids.length > 1 ? (await findContacts(client, contact, identity.ids))[0] : await findContact(client, contact)
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
 * Finds the contact (by identifier, then phone; with aliases, by any id or the phone in one filter, converging
 * two or more into one) or creates it with its contact_inbox; takes its
 * contact_inbox's source_id for the inbox (never letting Chatwoot make an orphan second one);
 * reuses a conversation by policy or creates one on that source_id.
 */
export async function getOrCreateConversation (client: ChatwootClient, inboxId: number, contact: DeliveryContact,
  policy: ConversationPolicy, identity?: IdentityPolicy): Promise<CachedConversation> {
  const found = await findOrCreateContact(client, inboxId, contact, identity)
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
