import type { FastifyBaseLogger } from 'fastify'
import type { Claimed } from './claim.js'
import type { Queryable } from './db.js'
import { LaneRequeuedError } from './deletion.js'
import type { LeaseRef } from './lease.js'
import { type Decision, decide, type PolicySettings } from './schedule-policy.js'
import { dead, pause, retryLater } from './settle.js'
import type { OutboxEvent } from './worker.js'

// What the worker does with a failed attempt once the schedule policy has decided (schedule-policy.ts).

const LEASE_LOST = 'FST_CHATWOOT_OUTBOX_LEASE_LOST'
const REQUEUED = new LaneRequeuedError(0).code

/** The failure as stored and logged: its code and a line of text; never a token (ChatwootError messages name none). */
export function facts (error: unknown): { code: string, statusCode?: number, message: string } {
  const { code, statusCode, message } = (error ?? {}) as { code?: unknown, statusCode?: unknown, message?: unknown }
  return {
    code: typeof code === 'string' ? code : 'unknown',
    statusCode: typeof statusCode === 'number' ? statusCode : undefined,
    message: String(message ?? error).slice(0, 500)
  }
}

export interface FailureContext {
  pool: Queryable
  schema: string
  log: FastifyBaseLogger
  count: (event: OutboxEvent, instance: string) => void
  /** The hash of the instance's settings a pause keeps (a change of them ends it). */
  configHash: (instance: string) => Promise<string | null>
  policy: PolicySettings
  /** Until the conversation's minute window has room, from the instance's Chatwoot database; undefined when it cannot tell. */
  windowWaitMs: (instance: string, conversationId: number) => Promise<number | undefined>
}

/**
 * A failed attempt (its handler threw, or a statement around it): decided by the schedule policy and
 * stored; never throws. `aimed`: the conversation its post went to, if it got that far.
 */
export async function settleFailure (context: FailureContext, claimed: Claimed, lease: LeaseRef, error: unknown,
  at: { aimed: number | null, ageMs: number }): Promise<void> {
  const { pool, schema, log } = context
  const { instance, id } = claimed
  const failure = facts(error)
  if (error instanceof LaneRequeuedError || failure.code === REQUEUED) {
    // Nothing was posted: the lane's head is now an earlier entry, taken at once by the next claim.
    await retryLater(pool, schema, lease, failure, 0).catch((settleError: unknown) => log.warn({ err: settleError, instance }, 'outbox: giving a lane back failed'))
    log.info({ instance, entry: id }, 'outbox: entries ahead of this one were queued again (their conversation was deleted); it waits behind them')
    return
  }
  let windowWaitMs: number | undefined
  if (failure.code === 'FST_CHATWOOT_TOO_MANY_MESSAGES' && at.aimed !== null) {
    windowWaitMs = await context.windowWaitMs(instance, at.aimed).catch(() => undefined)
  }
  const decision = decide(failure, { attempts: claimed.attempts + 1, ageMs: at.ageMs, windowWaitMs }, context.policy)
  await applyDecision(context, claimed, lease, failure, decision).catch((settleError: unknown) => {
    // The lease runs out and another attempt follows: nothing is lost, only delayed.
    log.warn({ err: settleError, instance, entry: id }, 'outbox: storing an attempt\'s outcome failed')
  })
}

/** Stores the decision about a failed attempt: retried later, the instance paused, or the entry dead. */
async function applyDecision (context: FailureContext, claimed: Claimed, lease: LeaseRef,
  failure: { code: string, message: string }, decision: Decision): Promise<void> {
  const { pool, schema, log, count } = context
  const { instance, id } = claimed
  const logged = { instance, entry: id, code: failure.code, attempts: claimed.attempts + 1 }
  if (decision.action === 'abandon' || failure.code === LEASE_LOST) {
    count('leaseLost', instance)
    log.warn(logged, 'outbox: the lane was taken over while this worker had it; leaving the entry to the worker that has it')
    return
  }
  if (decision.action === 'retry') {
    if (await retryLater(pool, schema, lease, failure, decision.delayMs)) count('retried', instance)
    log.info({ ...logged, delayMs: decision.delayMs }, `outbox: attempt failed, next in ${decision.delayMs} ms (${decision.reason})`)
  } else if (decision.action === 'pause') {
    if (await pause(pool, schema, lease, failure, decision.delayMs, await context.configHash(instance))) count('paused', instance)
    log.warn({ ...logged, probeInMs: decision.delayMs }, `outbox: instance paused until its settings change (${decision.reason})`)
  } else {
    if (await dead(pool, schema, lease, failure, decision.reason)) count('dead', instance)
    log.warn(logged, `outbox: entry is dead (${decision.reason})`)
  }
}
