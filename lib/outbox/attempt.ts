import { performance } from 'node:perf_hooks'
import { OutboxExpiredError, OutboxLeaseLostError, OutboxTakenOverError } from '../errors.js'
import type { LocalBudget } from './budget.js'
import type { Claimed } from './claim.js'
import { LaneRequeuedError } from './deletion.js'
import type { EntryOutcome } from './entry-kind.js'
import { facts, type FailureContext, settleFailure } from './failure.js'
import { type LeaseRef, aimAt, giveBack } from './lease.js'
import type { Ticket } from './permits.js'
import { expire, retryLater } from './settle.js'
import type { WorkerOptions } from './worker.js'

// One attempt at one entry of a batch (worker.ts): everything but recording a delivery, which the batch
// does for all its posts in one statement. An attempt that ends otherwise (a failure, a wait) stores its
// own outcome and gives the lane back, after the batch has recorded what it posted before it.

export interface AttemptContext {
  options: WorkerOptions
  budget: LocalBudget
  failures: FailureContext
}

/** What the batch around the attempt offers it. */
export interface InBatch {
  /** Every entry of the batch posted before this one went to the conversation this one is pre-aimed at. */
  clean: boolean
  /**
   * Records the batch's posts not yet recorded, holding the lane; `giveUpRest` also starts back the
   * entries behind this one, which will not be posted. False: the lane is no longer this worker's.
   */
  flush: (giveUpRest: boolean) => Promise<boolean>
}

/** Delivered (the batch records it), or settled otherwise with the lane given back, and how long the origin's budget says to wait. */
export type AttemptEnd = { outcome: EntryOutcome } | { outcome?: undefined, budgetWaitMs: number }

const SETTLED: AttemptEnd = { budgetWaitMs: 0 }

/** One attempt at `claimed` (its attempt already counted by the statement that started it); never throws. */
export async function attempt (context: AttemptContext, claimed: Claimed, turn: Ticket, batch: InBatch): Promise<AttemptEnd> {
  const { options, budget, failures } = context
  const { pool, schema, leaseMs, policy, log, count } = options
  const { instance, lane, token, id } = claimed
  const lease: LeaseRef = { instance, lane, token, id }
  const started = Date.now()
  let aimed = claimed.conversationId
  try {
    if (claimed.expired) {
      if (await expire(pool, schema, lease, `maxAge: not delivered within ${policy.maxAgeMs} ms`)) count('dead', instance)
      log.warn({ instance, entry: id, code: new OutboxExpiredError(String(id)).code }, 'outbox: entry is dead (maxAge)')
      return SETTLED
    }
    if (!claimed.started) {
      // Taken over from a worker that died mid-post: a slow Chatwoot may still store that post, so wait
      // as after a timeout before the check that precedes posting again.
      const waitMs = Math.ceil(policy.slowChatwootMs - claimed.sinceAttemptMs)
      await retryLater(pool, schema, lease, facts(new OutboxTakenOverError(String(id))), waitMs)
      return SETTLED
    }
    const handler = options.handlerFor(claimed.kind)
    if (handler === undefined) {
      // Another replica (a newer version, or one with the webhooks plugin) enqueued a kind this one cannot
      // run: the lane is left for a process that can, untouched, rather than failed here.
      if (await batch.flush(true)) await giveBack(pool, schema, lease, options.pollMs * 10)
      log.warn({ instance, entry: id, kind: claimed.kind }, 'outbox: no handler for this kind of entry in this process; left for another')
      return SETTLED
    }
    const settings = await options.describe(instance)
    const budgetWaitMs = await budget.take(settings.origin)
    if (budgetWaitMs > 0) {
      count('budgetWaits', instance)
      if (await batch.flush(true)) await giveBack(pool, schema, lease, budgetWaitMs)
      return { budgetWaitMs }
    }
    const outcome = await turn.run(() => handler({
      instance,
      id,
      kind: claimed.kind,
      lane,
      payload: claimed.payload,
      attempts: claimed.attempts,
      landedIn: claimed.conversationId ?? undefined,
      beforePost: async ({ conversationId }) => {
        const pre = claimed.preAimed
        // Aimed and guarded by the statement that started the entry, with a client timeout of lease left: go.
        if (pre?.clear === true && batch.clean && pre.conversationId === conversationId &&
          pre.leaseUntil - performance.now() >= settings.timeoutMs) {
          aimed = conversationId
          return
        }
        // The guard reads the lane's earlier entries: the batch's own posts are recorded first.
        if (!await batch.flush(false)) throw new OutboxLeaseLostError(String(id))
        const aim = await aimAt(pool, schema, { ...lease, seq: claimed.seq }, conversationId, leaseMs)
        // A post starts only with at least one client timeout of lease ahead of it.
        if (aim.leftMs < settings.timeoutMs) throw new OutboxLeaseLostError(String(id))
        aimed = conversationId
        const { guard } = options
        if (guard !== undefined && aim.ahead) throw new LaneRequeuedError(id)
        // Only then is the full guard needed: it asks Chatwoot whether those conversations are gone.
        if (guard !== undefined && aim.elsewhere) await guard(claimed, conversationId)
      }
    }))
    return { outcome }
  } catch (error) {
    if (await batch.flush(true)) {
      await settleFailure(failures, claimed, lease, error, { aimed, ageMs: claimed.ageMs + Date.now() - started })
    } else {
      count('leaseLost', instance)
    }
  } finally {
    turn.cancel()
  }
  return SETTLED
}
