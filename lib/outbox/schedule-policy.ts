// What to do with an entry whose attempt failed, by the cause of the failure. Pure: no clock, no
// database, no randomness of its own; the worker gives it the facts and applies the decision.

export interface FailureFacts {
  code?: string
  statusCode?: number
  message: string
}

export interface PolicySettings {
  /** An entry older than this is dead whatever the cause. */
  maxAgeMs: number
  /** Backoff of 429, 5xx, network and unknown failures: the first delay, doubling per attempt up to the cap. */
  backoffMinMs: number
  backoffMaxMs: number
  /** After a timeout: long enough for a slow Chatwoot to have finished the post, so the check that follows sees it. */
  slowChatwootMs: number
  /** How long a paused instance waits before one of its entries probes it again. */
  probeMs: number
  /** [0, 1), for jitter. */
  random: () => number
}

export interface Situation {
  /** Attempts made, this one included. */
  attempts: number
  /** Since the entry was enqueued. */
  ageMs: number
  /** For a 422 "Too many messages": until the conversation's minute window has room, when the instance's database tells. */
  windowWaitMs?: number
}

export type Decision =
  | { action: 'retry', delayMs: number, reason: string }
  | { action: 'pause', delayMs: number, reason: string }
  | { action: 'dead', reason: string }
  /** This worker lost the lane: leave the entry as it is to the worker that has it. */
  | { action: 'abandon', reason: string }

const MINUTE = 60_000
// Spread over this much, so the lanes one conversation limit held back do not all post in the same second.
const WINDOW_JITTER_MS = 1000

const BACKOFF = new Set(['FST_CHATWOOT_RATE_LIMITED', 'FST_CHATWOOT_SERVER', 'FST_CHATWOOT_NETWORK'])
// A wrong token or account, or an instance the host no longer resolves: nothing helps until its settings change.
const PAUSE = new Set(['FST_CHATWOOT_UNAUTHORIZED', 'FST_CHATWOOT_NOT_FOUND', 'FST_CHATWOOT_INSTANCE_NOT_FOUND',
  'FST_CHATWOOT_INSTANCE_CONFIG_INVALID'])
// Chatwoot refused the message itself, the stored input cannot be delivered, or a kind's handler gave up:
// waiting cannot change that.
const DEAD = new Set(['FST_CHATWOOT_VALIDATION', 'FST_CHATWOOT_BAD_REQUEST', 'FST_CHATWOOT_INPUT_INVALID', 'FST_CHATWOOT_DELIVERY_INVALID',
  'FST_CHATWOOT_OUTBOX_GAVE_UP'])

/** Full jitter over the upper half: never less than half the step, so a storm thins out rather than repeats. */
export function backoffMs (attempts: number, settings: Pick<PolicySettings, 'backoffMinMs' | 'backoffMaxMs' | 'random'>): number {
  const step = Math.min(settings.backoffMaxMs, settings.backoffMinMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)))
  return Math.round(step / 2 + (step / 2) * settings.random())
}

function undecided (failure: FailureFacts, situation: Situation, settings: PolicySettings): Decision {
  const { code = 'unknown', message } = failure
  if (code === 'FST_CHATWOOT_OUTBOX_LEASE_LOST') return { action: 'abandon', reason: message }
  if (code === 'FST_CHATWOOT_TOO_MANY_MESSAGES') {
    // Never assume Chatwoot's limit: wait until the oldest message of the conversation's last minute leaves it.
    const wait = situation.windowWaitMs ?? MINUTE
    return { action: 'retry', delayMs: Math.round(wait + WINDOW_JITTER_MS * settings.random()), reason: `${code}: waiting for the conversation's minute window` }
  }
  if (code === 'FST_CHATWOOT_TIMEOUT') {
    return { action: 'retry', delayMs: settings.slowChatwootMs, reason: `${code}: waiting for a slow Chatwoot to finish, then checking before posting` }
  }
  if (PAUSE.has(code)) return { action: 'pause', delayMs: settings.probeMs, reason: `${code}: ${message}` }
  if (DEAD.has(code)) return { action: 'dead', reason: `${code}: ${message}` }
  // 429, 5xx, network, and anything unforeseen (a database hiccup): back off and try again.
  const kind = BACKOFF.has(code) ? code : `${code} (unclassified)`
  return { action: 'retry', delayMs: backoffMs(situation.attempts, settings), reason: `${kind}: ${message}` }
}

/** The decision for one failed attempt; `maxAge` wins over every cause. */
export function decide (failure: FailureFacts, situation: Situation, settings: PolicySettings): Decision {
  const decision = undecided(failure, situation, settings)
  if (decision.action === 'abandon' || decision.action === 'dead') return decision
  const left = settings.maxAgeMs - situation.ageMs
  if (left <= 0) {
    return { action: 'dead', reason: `maxAge: not delivered within ${settings.maxAgeMs} ms; last failure ${failure.code ?? 'unknown'}: ${failure.message}` }
  }
  // A pause is the instance's, probed after probeMs whatever its entries' ages: the chores declare its
  // entries dead at maxAge without an attempt (capping it would make the next entry a probe at maxAge).
  if (decision.action === 'pause') return decision
  // The last try falls at maxAge at the latest, where the entry is declared dead if it fails again.
  return { ...decision, delayMs: Math.min(decision.delayMs, left) }
}

/** An entry whose age alone makes it dead (a paused instance's backlog, swept without an attempt). */
export function expired (ageMs: number, settings: Pick<PolicySettings, 'maxAgeMs'>): boolean {
  return ageMs >= settings.maxAgeMs
}
