import { createHash, randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Attachment } from '../client/multipart.js'
import type { CreateMessageInput } from '../client/operations.js'
import type { DeliveryContact } from '../conversations/get-or-create.js'
import type { DeliveryInput } from '../conversations/types.js'
import { DeliveryInvalidError, OutboxPayloadTooLargeError } from '../errors.js'
import { fingerprint } from '../fingerprint.js'

/** An attachment enqueued by reference: the plugin's `openAttachment(ref, instance)` gives its bytes at delivery. */
export interface AttachmentRef {
  filename: string
  contentType: string
  ref: string
}

export type OutboxAttachment = Attachment | AttachmentRef

export interface OutboxMessage extends Omit<CreateMessageInput, 'attachments'> {
  attachments?: OutboxAttachment[]
}

export interface OutboxInput {
  contact: DeliveryContact
  message: OutboxMessage
}

type StoredAttachment = { filename: string, contentType: string, base64: string } | AttachmentRef

/** The row's payload: plain JSON, attachments inline as base64 or as the host's ref. */
export interface StoredPayload {
  contact: DeliveryContact
  message: Omit<CreateMessageInput, 'attachments'> & { source_id: string, attachments?: StoredAttachment[] }
}

export type OpenAttachment = (ref: string, instance: string) => Promise<Buffer | Uint8Array | (() => Readable | AsyncIterable<Uint8Array>)>

const isRef = (attachment: OutboxAttachment): attachment is AttachmentRef => typeof (attachment as AttachmentRef).ref === 'string'

function storedAttachment (attachment: OutboxAttachment, index: number): StoredAttachment {
  if (typeof attachment !== 'object' || attachment === null) throw new DeliveryInvalidError(`message.attachments[${index}] must be an object`)
  const { filename, contentType } = attachment
  if (isRef(attachment)) return { filename, contentType, ref: attachment.ref }
  const { data } = attachment
  if (typeof data === 'function') {
    // A stream is gone after a crash: the outbox keeps bytes, or a ref the host can open again.
    throw new DeliveryInvalidError(`message.attachments[${index}].data is a stream; enqueue bytes (a Buffer) or { ref } with the plugin's openAttachment`)
  }
  if (!(data instanceof Uint8Array)) throw new DeliveryInvalidError(`message.attachments[${index}].data must be a Buffer, got ${typeof data}`)
  return { filename, contentType, base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') }
}

/**
 * The payload as stored, its hash (the idempotency check compares it) and its size. A message without
 * a source_id gets one here, so the entry and every attempt share it.
 */
export function toStored (input: OutboxInput, maxPayloadBytes: number): { payload: StoredPayload, hash: string, bytes: number } {
  const { contact, message } = input
  const { attachments, ...rest } = message
  if (attachments !== undefined && !Array.isArray(attachments)) throw new DeliveryInvalidError('message.attachments must be an array')
  const stored: StoredPayload = {
    contact,
    message: {
      ...rest,
      message_type: rest.message_type ?? 'incoming',
      source_id: rest.source_id ?? randomUUID(),
      ...(attachments === undefined ? {} : { attachments: attachments.map(storedAttachment) })
    }
  }
  return { payload: stored, ...storedJson(stored, maxPayloadBytes) }
}

/** Any entry's payload as stored: its size (bounded) and the hash the idempotency check compares. */
export function storedJson (payload: unknown, maxPayloadBytes: number): { hash: string, bytes: number } {
  const text = JSON.stringify(payload)
  if (text === undefined) throw new DeliveryInvalidError('an entry\'s payload must be JSON')
  const bytes = Buffer.byteLength(text)
  if (bytes > maxPayloadBytes) throw new OutboxPayloadTooLargeError(bytes, maxPayloadBytes)
  return { hash: createHash('sha256').update(fingerprint(JSON.parse(text))).digest('hex'), bytes }
}

/** The delivery input again, attachments as bytes (refs opened through the host's function). */
export async function fromStored (payload: StoredPayload, instance: string, openAttachment: OpenAttachment | undefined): Promise<DeliveryInput> {
  const { attachments, ...message } = payload.message
  if (attachments === undefined) return { contact: payload.contact, message }
  const opened: Attachment[] = await Promise.all(attachments.map(async (attachment) => {
    if ('base64' in attachment) return { filename: attachment.filename, contentType: attachment.contentType, data: Buffer.from(attachment.base64, 'base64') }
    if (openAttachment === undefined) throw new DeliveryInvalidError(`attachment ref "${attachment.ref}" cannot be opened: the outbox has no openAttachment option`)
    return { filename: attachment.filename, contentType: attachment.contentType, data: await openAttachment(attachment.ref, instance) }
  }))
  return { contact: payload.contact, message: { ...message, attachments: opened } }
}
