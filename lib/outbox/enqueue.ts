import type { DeliveryContact } from '../conversations/get-or-create.js'
import type { DeliveryInput } from '../conversations/types.js'
import { validateDelivery } from '../conversations/validate-delivery.js'
import { DeliveryInvalidError, OutboxConflictError } from '../errors.js'
import type { Queryable } from './db.js'
import { MESSAGE_KIND } from './entry-kind.js'
import { type OutboxInput, toStored } from './payload.js'

export type EntryState = 'queued' | 'delivered' | 'dead'

export interface EnqueueResult {
  id: number
  sourceId: string
  state: EntryState
  /** The same (instance, contact, source_id) was enqueued before with the same payload: this is that entry. */
  existing: boolean
}

/** The checks deliver() makes on its input, so bad input never enters the table; the contact's key. */
export function checkInput (input: OutboxInput, contactKey: (contact: DeliveryContact) => string): string {
  const { contact, message } = input ?? {}
  // A ref stands for bytes the host opens at delivery: checked as an attachment of no bytes.
  const attachments = Array.isArray(message?.attachments)
    ? message.attachments.map((file) => (typeof file === 'object' && file !== null && 'ref' in file ? { ...file, data: Buffer.alloc(0) } : file))
    : message?.attachments
  validateDelivery((message === undefined || message === null ? input : { contact, message: { ...message, attachments } }) as DeliveryInput)
  const key = contactKey(contact)
  if (typeof key !== 'string' || key === '') {
    throw new DeliveryInvalidError('the contact has no key: give contact.identifier (or a contactKey option that reads another field)')
  }
  return key
}

export interface EnqueueSettings {
  schema: string
  contactKey: (contact: DeliveryContact) => string
  maxPayloadBytes: number
  /** The lane a contact's messages wait in: the person's canonical id where identities are linked, else the contact's key. */
  laneFor?: (instance: string, contact: DeliveryContact, key: string) => Promise<string>
}

/** One entry of any kind, as stored: its lane, its idempotency key (`key` + `sourceId`) and its payload. */
export interface NewEntry {
  kind: string
  lane: string
  key: string
  sourceId: string
  payload: unknown
  hash: string
  bytes: number
}

/** Stores one message: checked like deliver() first, then stored with its idempotency key. */
export async function enqueue (db: Queryable, instance: string, input: OutboxInput, settings: EnqueueSettings): Promise<EnqueueResult> {
  const { schema, contactKey, maxPayloadBytes, laneFor } = settings
  const key = checkInput(input, contactKey)
  const { payload, hash, bytes } = toStored(input, maxPayloadBytes)
  const sourceId = payload.message.source_id
  const lane = laneFor === undefined ? key : await laneFor(instance, input.contact, key)
  return insertEntry(db, schema, instance, { kind: MESSAGE_KIND, lane, key, sourceId, payload, hash, bytes })
}

/**
 * Stores one entry. A single statement, so it is atomic on a bare connection too: it takes the next
 * sequence of the lane under the lane row's lock (held to the commit, so sequence order is commit order
 * per lane, also inside the host's own transaction) and inserts the entry; an existing key inserts nothing.
 */
export async function insertEntry (db: Queryable, s: string, instance: string, entry: NewEntry): Promise<EnqueueResult> {
  const { kind, lane, key, sourceId, payload, hash, bytes } = entry
  const { rows } = await db.query<{ id: string }>(`
    WITH existing AS (
      SELECT 1 FROM ${s}.entries WHERE instance = $1 AND contact_key = $2 AND source_id = $3
    ), lane AS (
      INSERT INTO ${s}.lanes AS l (instance, lane, next_seq, queued, ready_at)
      SELECT $1, $4, 1, 1, now() WHERE NOT EXISTS (SELECT 1 FROM existing)
      ON CONFLICT (instance, lane) DO UPDATE SET
        next_seq = l.next_seq + 1,
        queued = l.queued + 1,
        -- An idle lane is ready at once; a busy one keeps its head's schedule.
        ready_at = CASE WHEN l.queued = 0 THEN now() ELSE l.ready_at END
      RETURNING next_seq
    )
    INSERT INTO ${s}.entries (instance, kind, lane, seq, contact_key, source_id, payload, payload_hash, payload_bytes)
    SELECT $1, $8, $4, lane.next_seq, $2, $3, $5, $6, $7 FROM lane
    ON CONFLICT (instance, contact_key, source_id) DO NOTHING
    RETURNING id`, [instance, key, sourceId, lane, payload, hash, bytes, kind])
  if (rows[0] !== undefined) return { id: Number(rows[0].id), sourceId, state: 'queued', existing: false }

  // The key exists (or a concurrent enqueue of it won: its lane count is mended when the lane is next claimed).
  const found = await db.query<{ id: string, state: EntryState, payload_hash: string }>(
    `SELECT id, state, payload_hash FROM ${s}.entries WHERE instance = $1 AND contact_key = $2 AND source_id = $3`,
    [instance, key, sourceId])
  const existing = found.rows[0]
  if (existing === undefined) throw new Error(`outbox: entry ${sourceId} neither inserted nor found`)
  if (existing.payload_hash !== hash) throw new OutboxConflictError(sourceId, instance)
  return { id: Number(existing.id), sourceId, state: existing.state, existing: true }
}
