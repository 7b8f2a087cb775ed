import type { ContactRow } from '../views.js'
import { one, type Queryable } from './sql.js'

/**
 * ContactMergeAction: the mergee's conversations, contact_inboxes and messages move to the base
 * contact, the mergee is destroyed, then its attributes fill what the base leaves blank (the base's
 * own values win, so the mergee's identifier is lost when the base has one). No webhook tells a gateway.
 */
export async function mergeContacts (db: Queryable, base: ContactRow, mergee: ContactRow): Promise<ContactRow> {
  // Chatwoot returns the base untouched when both are the same contact.
  if (base.id === mergee.id) return base
  await db.query('UPDATE conversations SET contact_id = $1, updated_at = utc_now() WHERE contact_id = $2', [base.id, mergee.id])
  await db.query("UPDATE messages SET sender_id = $1, updated_at = utc_now() WHERE sender_type = 'Contact' AND sender_id = $2",
    [base.id, mergee.id])
  await db.query('UPDATE contact_inboxes SET contact_id = $1, updated_at = utc_now() WHERE contact_id = $2', [base.id, mergee.id])
  await db.query('DELETE FROM contacts WHERE id = $1', [mergee.id])
  const blank = (value: string | null) => value === null || value.trim() === ''
  const row = await one<ContactRow>(db,
    `UPDATE contacts SET identifier = $2, name = $3, email = $4, phone_number = $5,
       additional_attributes = $6::jsonb || coalesce(additional_attributes, '{}'),
       custom_attributes = $7::jsonb || coalesce(custom_attributes, '{}'), updated_at = utc_now()
     WHERE id = $1 RETURNING *`,
    [base.id,
      blank(base.identifier) ? mergee.identifier : base.identifier,
      blank(base.name) ? mergee.name : base.name,
      blank(base.email) ? mergee.email : base.email,
      blank(base.phone_number) ? mergee.phone_number : base.phone_number,
      mergee.additional_attributes ?? {}, mergee.custom_attributes ?? {}])
  return row!
}
