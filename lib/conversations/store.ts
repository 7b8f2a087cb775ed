// Where conversation ids, locks and delivery claims live: Redis across processes, or memory in one.

export type Claim = { claimed: true } | { claimed: false, messageId: number | undefined }

/** What the cache keeps per contact: the conversation's display id and the contact's id. */
export interface CachedConversation { conversationId: number, contactId: number }

export const encode = ({ conversationId, contactId }: CachedConversation) => `${conversationId}:${contactId}`

export function decode (value: string | null | undefined): CachedConversation | undefined {
  const match = /^(\d+):(\d+)$/.exec(value ?? '')
  return match === null ? undefined : { conversationId: Number(match[1]), contactId: Number(match[2]) }
}

/**
 * `abandoned` is aborted when the caller stopped waiting (a Redis that did not answer in time). A
 * command sent then may still run later; the store undoes what it would leave behind (a lock, a
 * claim, a value nobody knows it wrote).
 */
export interface ConversationStore {
  get (key: string): Promise<CachedConversation | undefined>
  set (key: string, value: CachedConversation, ttlMs: number, abandoned?: AbortSignal): Promise<void>
  /** Deletes `key` only while it still holds `value`, so a fresh id written by another worker survives. */
  compareAndDelete (key: string, value: CachedConversation): Promise<boolean>
  /** A token when the lock was taken; undefined while another holder has it. */
  tryLock (key: string, ttlMs: number, abandoned?: AbortSignal): Promise<string | undefined>
  /** Releases the lock only if `token` still owns it. */
  unlock (key: string, token: string): Promise<void>
  /** Pushes the lock's expiry out to `ttlMs` from now, only if `token` still owns it; false when it does not. */
  extendLock (key: string, token: string, ttlMs: number): Promise<boolean>
  /** Claims a delivery (idempotency 'always'); a refused claim tells the message id once it is known. */
  claim (key: string, ttlMs: number, abandoned?: AbortSignal): Promise<Claim>
  settle (key: string, messageId: number, ttlMs: number): Promise<void>
  release (key: string): Promise<void>
  /** Tells other processes that `key` changed, so their in-process copies drop it. */
  announce (key: string): Promise<void>
  /** Hears other processes' announcements; returns how to stop listening. */
  listen (listener: (key: string) => void): Promise<() => Promise<void>>
}
