import type { ContactInboxRow, ContactRow } from '../views.js'
import type { InboxRow } from './accounts.js'
import { generatedSourceId, renameClashingContactInbox, validateSourceId } from './contact-inbox-builder.js'
import { one, type Queryable } from './sql.js'

export const CONTACTS_PER_PAGE = 15

export interface NewContact {
  name?: string
  email?: string
  phone_number?: string
  identifier?: string
  blocked?: boolean
  additional_attributes?: Record<string, unknown>
  custom_attributes?: Record<string, unknown>
}

export interface ContactPage { count: number, contacts: ContactRow[] }

/** A source_id already used in the inbox by another contact. */
export class SourceIdTakenError extends Error {}

// Contact#validates, in the order Rails runs them, with Rails' full messages.
const E164 = /^\+[1-9]\d{1,14}$/
const EMAIL = /^[^@\s]+@[^@\s]+$/

/** `self`: the contact being updated, which Rails' uniqueness checks leave out. */
export async function contactValidationFailures (db: Queryable, accountId: number, contact: NewContact, self?: number) {
  const failures: Array<{ attribute: string, message: string }> = []
  const taken = async (column: string, value: string, caseInsensitive = false) => {
    const compare = caseInsensitive ? `lower(${column}) = lower($2)` : `${column} = $2`
    return (await one(db, `SELECT 1 FROM contacts WHERE account_id = $1 AND ${compare} AND id IS DISTINCT FROM $3`,
      [accountId, value, self ?? null])) !== undefined
  }
  if (contact.email) {
    if (await taken('email', contact.email, true)) failures.push({ attribute: 'email', message: 'Email has already been taken' })
    if (!EMAIL.test(contact.email)) failures.push({ attribute: 'email', message: 'Email Invalid email' })
  }
  if (contact.identifier && await taken('identifier', contact.identifier)) {
    failures.push({ attribute: 'identifier', message: 'Identifier has already been taken' })
  }
  if (contact.phone_number) {
    if (await taken('phone_number', contact.phone_number)) {
      failures.push({ attribute: 'phone_number', message: 'Phone number has already been taken' })
    }
    if (!E164.test(contact.phone_number)) {
      failures.push({ attribute: 'phone_number', message: 'Phone number should be in e164 format' })
    }
  }
  if ((contact.name ?? '').length > 255) {
    failures.push({ attribute: 'name', message: 'Name is too long (maximum is 255 characters)' })
  }
  return failures
}

/** Inserts without validating: a unique-index race surfaces as Postgres' 23505, as it does in Chatwoot. */
export async function insertContact (db: Queryable, accountId: number, contact: NewContact): Promise<ContactRow> {
  const row = await one<ContactRow>(db,
    `INSERT INTO contacts (account_id, name, email, phone_number, identifier, blocked, additional_attributes, custom_attributes)
     VALUES ($1, coalesce($2, ''), lower($3), $4, $5, coalesce($6, false), coalesce($7::jsonb, '{}'), coalesce($8::jsonb, '{}')) RETURNING *`,
    [accountId, contact.name, contact.email || null, contact.phone_number || null, contact.identifier || null,
      contact.blocked, contact.additional_attributes ?? null, contact.custom_attributes ?? null])
  return row!
}

/**
 * ContactsController#update: the fields given replace the stored ones (a blank email, phone or identifier is
 * stored as null, as on create), the two attribute hashes are MERGED key by key at the top level (Hash#merge).
 * The caller validates the result first: Rails validates the whole record on save, not only what changed.
 */
export function updatedContact (row: ContactRow, patch: NewContact): NewContact {
  const given = <K extends keyof NewContact>(key: K, stored: NewContact[K]) => key in patch ? patch[key] : stored
  return {
    name: given('name', row.name ?? undefined),
    email: given('email', row.email ?? undefined),
    phone_number: given('phone_number', row.phone_number ?? undefined),
    identifier: given('identifier', row.identifier ?? undefined),
    blocked: patch.blocked ?? row.blocked,
    additional_attributes: { ...row.additional_attributes, ...patch.additional_attributes },
    custom_attributes: { ...row.custom_attributes, ...patch.custom_attributes }
  }
}

export async function updateContact (db: Queryable, contactId: number, contact: NewContact): Promise<ContactRow> {
  const row = await one<ContactRow>(db,
    `UPDATE contacts SET name = coalesce($2, ''), email = lower($3), phone_number = $4, identifier = $5, blocked = $6,
       additional_attributes = $7::jsonb, custom_attributes = $8::jsonb, updated_at = utc_now() WHERE id = $1 RETURNING *`,
    [contactId, contact.name, contact.email || null, contact.phone_number || null, contact.identifier || null,
      contact.blocked ?? false, contact.additional_attributes ?? {}, contact.custom_attributes ?? {}])
  return row!
}

export async function findContact (db: Queryable, accountId: number, contactId: number | undefined): Promise<ContactRow | undefined> {
  if (contactId === undefined) return undefined
  return one<ContactRow>(db, 'SELECT * FROM contacts WHERE id = $1 AND account_id = $2', [contactId, accountId])
}

export async function contactInboxesOf (db: Queryable, contactIds: number[]): Promise<Map<number, ContactInboxRow[]>> {
  const byContact = new Map<number, ContactInboxRow[]>(contactIds.map((contactId) => [contactId, []]))
  if (contactIds.length === 0) return byContact
  const { rows } = await db.query<ContactInboxRow & { contact_id: string }>(
    `SELECT ci.contact_id, ci.source_id, row_to_json(i) AS inbox
       FROM contact_inboxes ci JOIN inboxes i ON i.id = ci.inbox_id
      WHERE ci.contact_id = ANY($1) ORDER BY ci.id`, [contactIds])
  for (const row of rows) byContact.get(Number(row.contact_id))?.push({ source_id: row.source_id, inbox: row.inbox })
  return byContact
}

/**
 * ContactInboxBuilder: the contact's contact_inbox for (inbox, source_id), created when missing.
 * Without a source_id one is made by channel type (a UUID for API inboxes), so a second contact_inbox
 * appears for a contact that already has one in the inbox: Chatwoot's behaviour, and the trap gateways
 * must avoid. A source_id of another contact is a SourceIdTakenError, except where Chatwoot renames
 * the other row (phone and email channels) and `renames` is set.
 */
export async function ensureContactInbox (db: Queryable, contact: Pick<ContactRow, 'id' | 'email' | 'phone_number'>, inbox: InboxRow,
  sourceId: string | undefined, { renames = false } = {}) {
  const source = sourceId ?? generatedSourceId(contact, inbox)
  const existing = await one<{ id: string, contact_id: string, source_id: string }>(db,
    'SELECT id, contact_id, source_id FROM contact_inboxes WHERE inbox_id = $1 AND source_id = $2', [inbox.id, source])
  if (existing !== undefined && Number(existing.contact_id) === contact.id) return { id: Number(existing.id), source_id: existing.source_id }
  validateSourceId(source, inbox)
  if (existing !== undefined && !(renames && await renameClashingContactInbox(db, inbox, source))) throw new SourceIdTakenError(source)
  const inserted = await one<{ id: string, source_id: string }>(db,
    `INSERT INTO contact_inboxes (contact_id, inbox_id, source_id) VALUES ($1, $2, $3)
     ON CONFLICT (inbox_id, source_id) DO NOTHING RETURNING id, source_id`, [contact.id, inbox.id, source])
  // A concurrent insert of the same source_id: the unique index decides, as in Chatwoot.
  if (inserted === undefined) throw new SourceIdTakenError(source)
  return { id: Number(inserted.id), source_id: inserted.source_id }
}

// The `sort` values ContactsController declares with sort_on; a leading "-" sorts descending.
const SORTS = new Set(['name', 'email', 'phone_number', 'last_activity_at', 'created_at'])

export function contactOrder (sort: string | undefined): string {
  const column = sort?.replace(/^-/, '')
  if (column === undefined || !SORTS.has(column)) return ''
  return `ORDER BY ${column} ${sort!.startsWith('-') ? 'DESC' : 'ASC'} NULLS LAST`
}

/**
 * v4.9.1's search: only "resolved" contacts (an email, phone or identifier that is not blank);
 * name, email, phone and company_name match case-insensitively, the identifier case-sensitively;
 * the query is not escaped, so % and _ in it are wildcards; no ORDER BY unless `sort` asks.
 */
export async function searchContacts (db: Queryable, accountId: number, query: string, page: number, sort?: string): Promise<ContactPage> {
  const where = `account_id = $1 AND (email <> '' OR phone_number <> '' OR identifier <> '')
    AND (name ILIKE $2 OR email ILIKE $2 OR phone_number ILIKE $2 OR identifier LIKE $2
      OR additional_attributes ->> 'company_name' ILIKE $2)`
  return contactPage(db, where, [accountId, `%${query.trim()}%`], page, contactOrder(sort))
}

export async function contactPage (db: Queryable, where: string, values: unknown[], page: number,
  order = 'ORDER BY last_activity_at DESC NULLS LAST, id DESC'): Promise<ContactPage> {
  const count = await one<{ count: number }>(db, `SELECT count(*)::int AS count FROM contacts WHERE ${where}`, values)
  const { rows } = await db.query<ContactRow>(
    `SELECT * FROM contacts WHERE ${where} ${order}
     LIMIT ${CONTACTS_PER_PAGE} OFFSET ${(page - 1) * CONTACTS_PER_PAGE}`, values)
  return { count: count!.count, contacts: rows }
}
