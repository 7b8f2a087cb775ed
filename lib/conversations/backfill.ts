import type { ChatwootClient } from '../client/client.js'
import { ChatwootError } from '../client/errors.js'
import type { Contact, UpdateContactInput } from '../client/types.js'

// Backfill (docs/identity.md): a person's contact found in Chatwoot is given what the delivery knows and it
// lacks, once: the phone number an id gives, and the person's other ids in additional_attributes.aliases.
// Only on the get-or-create path (a cache miss), and only when something is missing, so a warm delivery never
// pays for it; a refusal never fails the delivery.

/** The most ids recorded on one contact: the person's ids accumulate over months, the contact must not grow without end. */
export const MAX_RECORDED_ALIASES = 32

// A WhatsApp phone id (a multi-device id's ":<device>" dropped) or an E.164 number used as an id. Chatwoot's
// phone rule is E.164 (CONTRACT.md, POST /contacts); 7 digits at least, so a short numeric id is not taken for one.
const WHATSAPP_PHONE_ID = /^([1-9]\d{6,14})(?::\d+)?@s\.whatsapp\.net$/
const E164_ID = /^\+[1-9]\d{6,14}$/

/** The phone number an id gives, if it gives one. */
export function phoneOf (id: string): string | undefined {
  if (E164_ID.test(id)) return id
  const digits = WHATSAPP_PHONE_ID.exec(id)?.[1]
  return digits === undefined ? undefined : `+${digits}`
}

/** The person's phone number: the caller's own, else the first id (the delivery's own first) that gives one. */
export function personPhone (given: string | undefined, ids: readonly string[]): string | undefined {
  if (given !== undefined && given !== '') return given
  for (const id of ids) {
    const phone = phoneOf(id)
    if (phone !== undefined) return phone
  }
  return undefined
}

const recordedAliases = (contact: Contact): string[] => {
  const recorded = contact.additional_attributes?.aliases
  return Array.isArray(recorded) ? recorded.filter((id): id is string => typeof id === 'string') : []
}

/** What `contact` lacks of what the delivery knows; undefined when it lacks nothing (the usual case: no call). */
export function contactPatch (contact: Contact, phone: string | undefined, ids: readonly string[]): UpdateContactInput | undefined {
  const patch: UpdateContactInput = {}
  if (phone !== undefined && (contact.phone_number === null || contact.phone_number === undefined || contact.phone_number === '')) {
    patch.phone_number = phone
  }
  const recorded = recordedAliases(contact)
  const missing = ids.filter((id) => id !== contact.identifier && !recorded.includes(id))
  // Given whole: Chatwoot merges additional_attributes key by key, so the array replaces the stored one.
  if (missing.length > 0) patch.additional_attributes = { aliases: [...recorded, ...missing].slice(-MAX_RECORDED_ALIASES) }
  return Object.keys(patch).length === 0 ? undefined : patch
}

export type BackfillReport = (outcome: 'updated' | 'refused', contact: Contact, error?: unknown) => void

/**
 * Gives `contact` what it lacks, in one PUT; answers the contact as it is after (or as it was, when refused).
 * A phone number another contact holds is Chatwoot's 422 for the whole update: the aliases are then sent
 * alone once. Any other failure is reported and the delivery goes on with the contact it found.
 */
export async function backfill (client: ChatwootClient, contact: Contact, phone: string | undefined, ids: readonly string[],
  report?: BackfillReport): Promise<Contact> {
  let patch = contactPatch(contact, phone, ids)
  while (patch !== undefined) {
    try {
      const { payload } = await client.updateContact(contact.id, patch)
      report?.('updated', payload)
      return payload
    } catch (error) {
      report?.('refused', contact, error)
      const phoneRefused = error instanceof ChatwootError && error.statusCode === 422 && patch.phone_number !== undefined
      patch = phoneRefused && patch.additional_attributes !== undefined ? { additional_attributes: patch.additional_attributes } : undefined
    }
  }
  return contact
}
