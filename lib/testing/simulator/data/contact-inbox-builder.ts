import { randomInt, randomUUID } from 'node:crypto'
import { internalServerError, paramMissing, recordInvalid } from '../answers.js'
import type { ContactRow } from '../views.js'
import type { InboxRow } from './accounts.js'
import { one, type Queryable } from './sql.js'

// ContactInboxBuilder and ContactInbox's validation, per channel type (CONTRACT.md, contact_inboxes).

const WHATSAPP_SOURCE_ID = /^\d{1,15}$/
// Channels where a clash renames the other contact's row instead of failing.
const RENAMING_CHANNELS = new Set(['Channel::Email', 'Channel::Sms', 'Channel::TwilioSms', 'Channel::Whatsapp'])
const PHONE_CHANNELS = new Set(['Channel::Sms', 'Channel::TwilioSms', 'Channel::Whatsapp'])

/** The source_id Chatwoot makes when none is given; a channel that needs a phone or email the contact lacks is a 422. */
export function generatedSourceId (contact: Pick<ContactRow, 'email' | 'phone_number'>, inbox: Pick<InboxRow, 'channel_type'>): string {
  switch (inbox.channel_type) {
    case 'Channel::Api':
    case 'Channel::WebWidget':
      return randomUUID()
    case 'Channel::Whatsapp':
      if (contact.phone_number === null) throw paramMissing('contact phone number')
      // WhatsApp ids are the E.164 digits without the "+".
      return contact.phone_number.replaceAll('+', '')
    case 'Channel::Sms':
    case 'Channel::TwilioSms':
      if (contact.phone_number === null) throw paramMissing('contact phone number')
      return contact.phone_number
    case 'Channel::Email':
      if (contact.email === null) throw paramMissing('contact email')
      return contact.email
    default:
      // "Unsupported operation for this channel", which nothing rescues.
      throw internalServerError()
  }
}

/** ContactInbox#valid_source_id_format?: only WhatsApp's shape is checked here (Twilio's depends on its medium). */
export function validateSourceId (sourceId: string, inbox: Pick<InboxRow, 'channel_type'>): void {
  if (inbox.channel_type === 'Channel::Whatsapp' && !WHATSAPP_SOURCE_ID.test(sourceId)) {
    throw recordInvalid([{
      attribute: 'source_id',
      message: 'Source invalid source id for whatsapp inbox. valid Regex (?-mix:^\\d{1,15}\\z)'
    }])
  }
}

/**
 * When the source_id belongs to another contact in a phone or email inbox, Chatwoot renames that
 * contact's row (so the message history follows the new contact) and retries; elsewhere the clash stands.
 */
export async function renameClashingContactInbox (db: Queryable, inbox: InboxRow, sourceId: string): Promise<boolean> {
  if (!RENAMING_CHANNELS.has(inbox.channel_type)) return false
  const renamed = PHONE_CHANNELS.has(inbox.channel_type) ? `whatsapp:${sourceId}${randomInt(100)}` : `${randomInt(10)}${sourceId}`
  const row = await one(db, 'UPDATE contact_inboxes SET source_id = $3, updated_at = utc_now() WHERE inbox_id = $1 AND source_id = $2 RETURNING id',
    [inbox.id, sourceId, renamed])
  return row !== undefined
}
