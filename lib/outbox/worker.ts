import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { OutboxExpiredError, OutboxLeaseLostError, OutboxTakenOverError } from '../errors.js'
import { take } from './budget.js'
import { type Claimed, claim } from './claim.js'
import type { OutboxPool } from './db.js'
import type { EntryHandler } from './entry-kind.js'
import { LaneRequeuedError } from './deletion.js'
import { type LeaseRef, aimAt, release, renew, startAttempt } from './lease.js'
import { type Decision, decide, expired, type PolicySettings } from './schedule-policy.js'
import { dead, delivered, expire, pause, resume, retryLater } from './settle.js'

export type OutboxEvent = 'delivered' | 'deduplicated' | 'retried' | 'dead' | 'paused' | 'resumed' | 'budgetWaits' | 'leaseLost'

export interface WorkerOptions {
  pool: OutboxPool
  schema: string
  concurrency: number
  leaseMs: number
  pollMs: number
  requestsPerMinute: number
  policy: PolicySettings
  /** The handler of each kind of entry this process can run; undefined for a kind it does not know. */
  handlerFor: (kind: string) => EntryHandler | undefined
  /** What the worker needs of an instance's settings: its Chatwoot origin, its client timeout and the hash a pause keeps. */
  describe: (instance: string) => Promise<{ origin: string, timeoutMs: number, configHash: string }>
  /** Until the conversation's minute window has room, from the instance's Chatwoot database; undefined when it cannot tell. */
  windowWaitMs: (instance: string, conversationId: number) => Promise<number | undefined>
  /** Before each post: throws LaneRequeuedError when entries ahead in the lane were queued again (delete window). */
  guard?: (head: { instance: string, lane: string, id: number, seq: number }, target: number) => Promise<void>
  log: FastifyBaseLogger
  count: (event: OutboxEvent, instance: string) => void
}

const LEASE_LOST = 'FST_CHATWOOT_OUTBOX_LEASE_LOST'
const REQUEUED = new LaneRequeuedError(0).code

/** The failure as stored and logged: its code and a line of text; never a token (ChatwootError messages name none). */
function facts (error: unknown): { code: string, statusCode?: number, message: string } {
  const { code, statusCode, message } = (error ?? {}) as { code?: unknown, statusCode?: unknown, message?: unknown }
  return {
    code: typeof code === 'string' ? code : 'unknown',
    statusCode: typeof statusCode === 'number' ? statusCode : undefined,
    message: String(message ?? error).slice(0, 500)
  }
}

/** Workers of one process: `concurrency` loops, each leasing one lane at a time. */
export class OutboxWorker {
  readonly #options: WorkerOptions
  readonly #id = randomUUID()
  readonly #loops: Promise<void>[] = []
  readonly #sleepers = new Set<() => void>()
  #closed = false

  constructor (options: WorkerOptions) {
    this.#options = options
  }

  start (): void {
    for (let index = 0; index < this.#options.concurrency; index++) this.#loops.push(this.#loop())
  }

  /** Something was enqueued here: look now rather than at the next poll. */
  wake (): void {
    for (const wakeUp of this.#sleepers) wakeUp()
  }

  /** Stops claiming and waits for the attempts under way; each gives its lane back as it settles. */
  async close (): Promise<void> {
    this.#closed = true
    this.wake()
    await Promise.all(this.#loops)
  }

  async #loop (): Promise<void> {
    const { pool, schema, leaseMs, policy, log } = this.#options
    while (!this.#closed) {
      let claimed: Claimed | null | undefined
      try {
        claimed = await claim(pool, `${this.#id}:${randomUUID()}`, { schema, leaseMs, probeMs: policy.probeMs })
      } catch (error) {
        log.warn({ err: error }, 'outbox: claiming a lane failed; trying again shortly')
        await this.#sleep(this.#options.pollMs * 4)
        continue
      }
      if (claimed === null) continue
      if (claimed === undefined) {
        await this.#sleep(this.#options.pollMs)
        continue
      }
      const budgetWaitMs = await this.#attempt(claimed)
      // Over the origin's budget: every lane of that origin would say the same, so this loop rests instead of asking each.
      if (budgetWaitMs > 0) await this.#sleep(Math.min(budgetWaitMs, 1000))
    }
  }

  /** Sleeps about `ms` (jittered, so replicas do not poll in step), or until woken. */
  #sleep (ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#sleepers.delete(done)
        resolve()
      }
      const timer = setTimeout(done, Math.round(ms * (0.75 + Math.random() / 2)))
      this.#sleepers.add(done)
    })
  }

  /** One attempt at the claimed entry; never throws. Answers how long the origin's budget says to wait (0 mostly). */
  async #attempt (claimed: Claimed): Promise<number> {
    const { pool, schema, leaseMs, policy, requestsPerMinute, log, count } = this.#options
    const { instance, lane, token, id } = claimed
    const lease: LeaseRef = { instance, lane, token, id }
    const started = Date.now()
    // Renewed while working, so a long attempt keeps its lane; a failed renewal is seen by the next post's guard.
    const renewal = setInterval(() => {
      renew(pool, schema, lease, leaseMs).catch((error: unknown) => log.warn({ err: error, instance }, 'outbox: renewing a lease failed'))
    }, Math.max(1, Math.floor(leaseMs / 3)))
    renewal.unref()
    let aimed = claimed.conversationId
    try {
      if (expired(claimed.ageMs, policy)) {
        if (await expire(pool, schema, lease, `maxAge: not delivered within ${policy.maxAgeMs} ms`)) count('dead', instance)
        log.warn({ instance, entry: id, code: new OutboxExpiredError(String(id)).code }, 'outbox: entry is dead (maxAge)')
        return 0
      }
      if (claimed.unsettled && claimed.conversationId !== null && claimed.sinceAttemptMs < policy.slowChatwootMs) {
        // Taken over from a worker that died mid-post: a slow Chatwoot may still store that post, so wait
        // as after a timeout before the check that precedes posting again.
        const waitMs = Math.ceil(policy.slowChatwootMs - claimed.sinceAttemptMs)
        await retryLater(pool, schema, lease, facts(new OutboxTakenOverError(String(id))), waitMs)
        return 0
      }
      const settings = await this.#options.describe(instance)
      const budget = await take(pool, schema, settings.origin, requestsPerMinute)
      if (budget.waitMs > 0) {
        count('budgetWaits', instance)
        await release(pool, schema, lease, budget.waitMs)
        return budget.waitMs
      }
      if (!await startAttempt(pool, schema, lease)) {
        count('leaseLost', instance)
        await release(pool, schema, lease)
        return 0
      }
      const handler = this.#options.handlerFor(claimed.kind)
      if (handler === undefined) {
        // Another replica (a newer version, or one with the webhooks plugin) enqueued a kind this one cannot
        // run: the lane is left for a process that can, untouched, rather than failed here.
        await release(pool, schema, lease, this.#options.pollMs * 10)
        log.warn({ instance, entry: id, kind: claimed.kind }, 'outbox: no handler for this kind of entry in this process; left for another')
        return 0
      }
      const outcome = await handler({
        instance,
        id,
        kind: claimed.kind,
        lane,
        payload: claimed.payload,
        attempts: claimed.attempts,
        landedIn: claimed.conversationId ?? undefined,
        beforePost: async ({ conversationId }) => {
          await this.#options.guard?.(claimed, conversationId)
          const left = await aimAt(pool, schema, lease, conversationId, leaseMs)
          // A post starts only with at least one client timeout of lease ahead of it.
          if (left < settings.timeoutMs) throw new OutboxLeaseLostError(String(id))
          aimed = conversationId
        }
      })
      if (!await delivered(pool, schema, lease, outcome)) {
        count('leaseLost', instance)
        return 0
      }
      count(outcome.deduplicated ? 'deduplicated' : 'delivered', instance)
      if (claimed.probe && await resume(pool, schema, instance)) {
        count('resumed', instance)
        log.info({ instance }, 'outbox: the paused instance answered again; its entries go on')
      }
    } catch (error) {
      const failure = facts(error)
      if (error instanceof LaneRequeuedError || failure.code === REQUEUED) {
        // Nothing was posted: the lane's head is now an earlier entry, taken at once by the next claim.
        await retryLater(pool, schema, lease, failure, 0).catch((settleError: unknown) => log.warn({ err: settleError, instance }, 'outbox: giving a lane back failed'))
        log.info({ instance, entry: id }, 'outbox: entries ahead of this one were queued again (their conversation was deleted); it waits behind them')
        return 0
      }
      let windowWaitMs: number | undefined
      if (failure.code === 'FST_CHATWOOT_TOO_MANY_MESSAGES' && aimed !== null) {
        windowWaitMs = await this.#options.windowWaitMs(instance, aimed).catch(() => undefined)
      }
      const decision = decide(failure, { attempts: claimed.attempts + 1, ageMs: claimed.ageMs + Date.now() - started, windowWaitMs }, policy)
      await this.#apply(claimed, lease, failure, decision).catch((settleError: unknown) => {
        // The lease runs out and another attempt follows: nothing is lost, only delayed.
        log.warn({ err: settleError, instance, entry: id }, 'outbox: storing an attempt\'s outcome failed')
      })
    } finally {
      clearInterval(renewal)
    }
    return 0
  }

  async #apply (claimed: Claimed, lease: LeaseRef, failure: { code: string, message: string }, decision: Decision): Promise<void> {
    const { pool, schema, log, count } = this.#options
    const { instance, id } = claimed
    const context = { instance, entry: id, code: failure.code, attempts: claimed.attempts + 1 }
    if (decision.action === 'abandon' || failure.code === LEASE_LOST) {
      count('leaseLost', instance)
      log.warn(context, 'outbox: the lane was taken over while this worker had it; leaving the entry to the worker that has it')
      return
    }
    if (decision.action === 'retry') {
      if (await retryLater(pool, schema, lease, failure, decision.delayMs)) count('retried', instance)
      log.info({ ...context, delayMs: decision.delayMs }, `outbox: attempt failed, next in ${decision.delayMs} ms (${decision.reason})`)
    } else if (decision.action === 'pause') {
      const configHash = await this.#options.describe(instance).then((settings) => settings.configHash, () => null)
      if (await pause(pool, schema, lease, failure, decision.delayMs, configHash)) count('paused', instance)
      log.warn({ ...context, probeInMs: decision.delayMs }, `outbox: instance paused until its settings change (${decision.reason})`)
    } else {
      if (await dead(pool, schema, lease, failure, decision.reason)) count('dead', instance)
      log.warn(context, `outbox: entry is dead (${decision.reason})`)
    }
  }
}
