import type { DeliverEntry } from './deliver-entry.js'
import type { EntryHandler } from './entry-kind.js'
import { fromStored, type OpenAttachment, type StoredPayload } from './payload.js'

/** The outbox's own kind: an incoming message, delivered through the conversations plugin's deliver(). */
export function messageKind (deliver: DeliverEntry, openAttachment: OpenAttachment | undefined): EntryHandler {
  return async ({ instance, payload, landedIn, beforePost }) => {
    const input = await fromStored(payload as StoredPayload, instance, openAttachment)
    const result = await deliver(instance, input, { ...(landedIn === undefined ? {} : { landedIn }), beforePost })
    return { conversationId: result.conversationId, messageId: result.message.id, deduplicated: result.deduplicated }
  }
}
