// What the outbox stores is not only incoming messages: agent replies to send out (the webhooks plugin)
// and later kinds ride the same table, lanes, leases, retries and dead letters. A kind is a name and a
// handler that makes one attempt; everything around the attempt (order, lease, schedule) stays here.

/** One attempt at an entry, as its kind's handler sees it. */
export interface EntryAttempt {
  instance: string
  id: number
  kind: string
  lane: string
  /** The payload as enqueued (plain JSON). */
  payload: unknown
  /** Attempts made before this one. */
  attempts: number
  /** Where an earlier attempt of this entry was aimed (stored before it acted): look there before acting again. */
  landedIn: number | undefined
  /**
   * Awaited before anything leaves the process (a post to Chatwoot, a send to the host's channel): stores the
   * target and checks that the lane is still this worker's with a client timeout of lease ahead; throws if not.
   */
  beforePost: (target: { conversationId: number }) => Promise<void>
}

export interface EntryOutcome {
  /** The Chatwoot conversation the entry went to (or came from). */
  conversationId: number
  /** The Chatwoot message it became (or is). */
  messageId: number
  /** It had been done already (found by an earlier attempt's trace): nothing was sent twice. */
  deduplicated: boolean
  /**
   * Nothing of the attempt lives in a Chatwoot conversation that a delayed delete could take with it (an
   * agent reply sent out): the delete-window check never re-queues it.
   */
  outsideChatwoot?: boolean
}

/** Makes one attempt; throws a coded error for the schedule policy to decide on (retry, pause, dead). */
export type EntryHandler = (attempt: EntryAttempt) => Promise<EntryOutcome>

/** The kind every message enqueued with `enqueue()` has. */
export const MESSAGE_KIND = 'message'

const KIND_PATTERN = /^[a-z][a-z0-9_.-]{0,39}$/

/** A kind's name as stored; `message` is the outbox's own. */
export function kindProblem (kind: unknown): string | undefined {
  if (typeof kind !== 'string' || !KIND_PATTERN.test(kind)) return `a kind is 1-40 lowercase letters, digits, "_", "." or "-", got ${JSON.stringify(kind)?.slice(0, 60) ?? typeof kind}`
  return undefined
}
