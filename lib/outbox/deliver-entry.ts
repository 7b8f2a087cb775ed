import type { DeliveryInput, DeliveryResult } from '../conversations/types.js'

// The outbox's one call into the delivery loop, kept here so its wiring changes in one place.

export interface EntryDeliveryOptions {
  /** Display id of the conversation an earlier attempt was aimed at: checked for the source_id before anything is posted. */
  landedIn?: number
  /** Awaited before each post, with the conversation it goes to: the outbox stores it and renews its lease. */
  beforePost: (target: { conversationId: number }) => Promise<void>
}

export type DeliverEntry = (instance: string, input: DeliveryInput, options: EntryDeliveryOptions) => Promise<DeliveryResult>

interface DeliversWithOptions {
  deliver (instance: string, input: DeliveryInput, options?: EntryDeliveryOptions): Promise<DeliveryResult>
}

/** deliver() of the conversations plugin, with the per-call options the outbox needs; read at each call (plugins decorate later). */
export function deliverEntryWith (chatwoot: () => object): DeliverEntry {
  return (instance, input, options) => (chatwoot() as DeliversWithOptions).deliver(instance, input, options)
}
