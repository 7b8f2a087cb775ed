// Where conversation ids, locks and delivery claims live: Redis across processes, or memory in one.

/**
 * A claim taken answers its owner token (only the holder extends or releases it) and whether it took
 * over an attempt that never ended: `takenOver` is true when an earlier claimer's pending claim ran
 * out without being settled or released. That earlier worker may have died after its post reached
 * Chatwoot, so the new holder must look in Chatwoot before posting. A refused claim tells the
 * message id once the delivery is settled, undefined while another holder is still posting.
 */
export type Claim =
  | { claimed: true, token: string, takenOver: boolean }
  | { claimed: false, messageId: number | undefined }

/**
 * What the cache keeps per contact: the conversation's display id, the contact's id, and who that contact
 * was as Chatwoot returned it (its identifier, else phone, else email): ids restart in a restored
 * database, so the misroute check compares more than the id.
 */
export interface CachedConversation { conversationId: number, contactId: number, who?: string }

export const encode = ({ conversationId, contactId, who }: CachedConversation) =>
  who === undefined || who === '' ? `${conversationId}:${contactId}` : `${conversationId}:${contactId}:${encodeURIComponent(who)}`

export function decode (value: string | null | undefined): CachedConversation | undefined {
  const match = /^(\d+):(\d+)(?::([^:]*))?$/.exec(value ?? '')
  if (match === null) return undefined
  const cached: CachedConversation = { conversationId: Number(match[1]), contactId: Number(match[2]) }
  try {
    if (match[3] !== undefined && match[3] !== '') cached.who = decodeURIComponent(match[3])
  } catch {
    // A value no version of ours wrote: keep the ids, the misroute check then compares ids only.
  }
  return cached
}

/*
 * A claim is ONE key, so it needs no hash tag of its own and every change to it is one atomic step:
 *   pending:<token>:<deadline>   claimed by <token> until <deadline> (ms since the epoch, the store's clock)
 *   <digits>                     settled: the id of the message it was delivered as
 * The key lives for the long `attemptTtlMs` whatever its deadline: a pending value past its deadline
 * is no claim any more (anyone may take it) but is the marker of an attempt that never ended, which
 * is how the next claimer learns `takenOver`. settle() overwrites it, release() deletes it. Redis
 * compares deadlines with its own TIME, so the workers' clocks never matter.
 */
export const pendingClaim = (token: string, deadline: number) => `pending:${token}:${deadline}`

export type ClaimState =
  | { state: 'pending', token: string, deadline: number }
  | { state: 'settled', messageId: number }

export function readClaim (value: string | null | undefined): ClaimState | undefined {
  if (value === null || value === undefined) return undefined
  if (/^\d+$/.test(value)) return { state: 'settled', messageId: Number(value) }
  const match = /^pending:([^:]*):(\d+)$/.exec(value)
  // Anything else (the plain 'pending' of earlier versions) is a claim whose end we cannot know: in flight.
  return match === null ? { state: 'pending', token: '', deadline: Infinity } : { state: 'pending', token: match[1]!, deadline: Number(match[2]) }
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
  /**
   * Claims a delivery (idempotency 'always') for a SHORT `ttlMs` (a worker that dies frees it soon),
   * kept alive by extendClaim while the delivery runs; the key, and so the marker of an attempt that
   * never ended, lives `attemptTtlMs` (the long cache ttl). A claim taken after the caller gave up
   * is ended at once but kept as a marker: that caller goes on posting without a claim.
   */
  claim (key: string, ttlMs: number, attemptTtlMs: number, abandoned?: AbortSignal): Promise<Claim>
  /** Pushes a pending claim's deadline out to `ttlMs` from now, only while `token` holds it; false once it does not (settled, released, taken over). */
  extendClaim (key: string, token: string, ttlMs: number): Promise<boolean>
  /**
   * Records the message id for `ttlMs` (the long ttl), ending the claim and its marker. Not owner
   * checked: a posted message's id is the truth whoever holds the claim by now.
   */
  settle (key: string, messageId: number, ttlMs: number): Promise<void>
  /** Deletes the claim and its marker (nothing was posted), only while `token` holds it. */
  release (key: string, token: string): Promise<void>
  /** Tells other processes that `key` changed, so their in-process copies drop it. */
  announce (key: string): Promise<void>
  /** Hears other processes' announcements; returns how to stop listening. */
  listen (listener: (key: string) => void): Promise<() => Promise<void>>
}
