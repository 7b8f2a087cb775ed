import { DeliveryInFlightError } from '../errors.js'
import { StoreUnavailableError } from './guarded-store.js'
import type { ConversationStore } from './store.js'

/** A delivery's hold on its source_id (idempotency 'always'), kept alive while its holder works. */
export interface HeldClaim {
  /** The id of the message it was delivered as, when it was: nothing to post. */
  settled?: number
  /** An earlier holder's attempt never ended: it may have landed, so look before posting. */
  takenOver: boolean
  settle (messageId: number): Promise<void>
  release (): Promise<void>
  /** Stops the watchdog (always called once the delivery ends). */
  stop (): void
}

const ignoreUnavailable = (error: unknown): undefined => {
  if (error instanceof StoreUnavailableError) return undefined
  throw error
}

const UNCLAIMED: HeldClaim = { takenOver: false, settle: async () => {}, release: async () => {}, stop () {} }

/**
 * Claims live a short time (`claimTtlMs`) and are pushed out while their holder works, like the lock's
 * watchdog: a claim whose holder died expires in seconds instead of refusing every redelivery for hours.
 */
export class Claimer {
  readonly #store: ConversationStore
  readonly #ttlMs: number
  readonly #claimTtlMs: number

  constructor (store: ConversationStore, ttlMs: number, claimTtlMs: number) {
    this.#store = store
    this.#ttlMs = ttlMs
    this.#claimTtlMs = claimTtlMs
  }

  async claim (key: string, sourceId: string | undefined): Promise<HeldClaim> {
    const claim = await this.#store.claim(key, this.#claimTtlMs, this.#ttlMs).catch(ignoreUnavailable)
    // No store: go on unclaimed rather than lose the message; the check before a retry still guards.
    if (claim === undefined) return UNCLAIMED
    if (!claim.claimed) {
      if (claim.messageId === undefined) throw new DeliveryInFlightError(sourceId)
      return { ...UNCLAIMED, settled: claim.messageId }
    }
    const { token } = claim
    const watchdog = setInterval(() => {
      this.#store.extendClaim(key, token, this.#claimTtlMs).catch(() => {})
    }, Math.max(1, Math.floor(this.#claimTtlMs / 3)))
    watchdog.unref()
    return {
      takenOver: claim.takenOver,
      settle: (messageId) => this.#store.settle(key, messageId, this.#ttlMs).catch(ignoreUnavailable),
      release: () => this.#store.release(key, token).catch(ignoreUnavailable),
      stop: () => clearInterval(watchdog)
    }
  }
}
