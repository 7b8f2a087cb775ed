import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import { OutboxExpiredError, OutboxLeaseLostError, OutboxTakenOverError } from '../errors.js'
import { LocalBudget } from './budget.js'
import { type Claimed, claim } from './claim.js'
import type { OutboxPool } from './db.js'
import type { EntryHandler } from './entry-kind.js'
import { LaneRequeuedError } from './deletion.js'
import { type LeaseRef, aimAt, giveBack, renew } from './lease.js'
import { prepared } from './prepared.js'
import { type Decision, decide, type PolicySettings } from './schedule-policy.js'
import { dead, delivered, expire, pause, resume, retryLater } from './settle.js'

export type OutboxEvent = 'delivered' | 'deduplicated' | 'retried' | 'dead' | 'paused' | 'resumed' | 'budgetWaits' | 'leaseLost'

export interface WorkerOptions {
  pool: OutboxPool
  /** Send the worker's statements named (prepared once per connection); false on the embedded PGlite. */
  prepared?: boolean
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

// A lane kept for its next entries gives them at most this many in a row, then goes back to the round-robin.
const RUN_LIMIT = 8

/** What one attempt leaves the loop with. */
interface Attempted {
  budgetWaitMs: number
  /** The lane's next entry, leased on and started by the settle of this one. */
  next?: Claimed
}
const IDLE: Attempted = { budgetWaitMs: 0 }

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
  readonly #budget: LocalBudget
  #closed = false
  // An enqueue's wake found no loop asleep: the next loop that finds nothing asks once more instead of sleeping.
  #missed = false

  constructor (options: WorkerOptions) {
    this.#options = { ...options, pool: options.prepared === true ? prepared(options.pool) : options.pool }
    this.#budget = new LocalBudget(this.#options.pool, options.schema, options.requestsPerMinute)
  }

  start (): void {
    for (let index = 0; index < this.#options.concurrency; index++) this.#loops.push(this.#loop())
  }

  /** Something was enqueued here: one sleeping loop looks now rather than at the next poll (and wakes another if it finds work). */
  wake (): void {
    const [wakeUp] = this.#sleepers
    // No loop asleep: one may be claiming from a snapshot taken before the entry committed; it asks again.
    if (wakeUp === undefined) this.#missed = true
    else wakeUp()
  }

  /** Stops claiming and waits for the attempts under way; each gives its lane back as it settles. */
  async close (): Promise<void> {
    this.#closed = true
    for (const wakeUp of this.#sleepers) wakeUp()
    await Promise.all(this.#loops)
  }

  async #loop (): Promise<void> {
    const { pool, schema, leaseMs, policy, log } = this.#options
    const settings = { schema, leaseMs, probeMs: policy.probeMs, maxAgeMs: policy.maxAgeMs, slowChatwootMs: policy.slowChatwootMs }
    while (!this.#closed) {
      let claimed: Claimed | null | undefined
      try {
        claimed = await claim(pool, `${this.#id}:${randomUUID()}`, settings)
      } catch (error) {
        log.warn({ err: error }, 'outbox: claiming a lane failed; trying again shortly')
        await this.#sleep(this.#options.pollMs * 4)
        continue
      }
      if (claimed === null) continue
      if (claimed === undefined) {
        if (this.#missed) this.#missed = false
        else await this.#sleep(this.#options.pollMs)
        continue
      }
      // Found work: there may be more, so a sleeping loop looks too (an enqueue wakes only one).
      this.wake()
      let next: Claimed | undefined = claimed
      for (let run = 1; next !== undefined; run++) {
        const done: Attempted = await this.#attempt(next, run < RUN_LIMIT && !this.#closed)
        // Over the origin's budget: every lane of that origin would say the same, so this loop rests instead of asking each.
        if (done.budgetWaitMs > 0) await this.#sleep(Math.min(done.budgetWaitMs, 1000))
        next = done.next
      }
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

  /**
   * One attempt at the claimed entry (its attempt already counted by the claim); never throws. Answers how
   * long the origin's budget says to wait (0 mostly), and the lane's next entry when the lane was kept for it.
   */
  async #attempt (claimed: Claimed, keepLane: boolean): Promise<Attempted> {
    const { pool, schema, leaseMs, policy, log, count } = this.#options
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
      if (claimed.expired) {
        if (await expire(pool, schema, lease, `maxAge: not delivered within ${policy.maxAgeMs} ms`)) count('dead', instance)
        log.warn({ instance, entry: id, code: new OutboxExpiredError(String(id)).code }, 'outbox: entry is dead (maxAge)')
        return IDLE
      }
      if (!claimed.started) {
        // Taken over from a worker that died mid-post: a slow Chatwoot may still store that post, so wait
        // as after a timeout before the check that precedes posting again.
        const waitMs = Math.ceil(policy.slowChatwootMs - claimed.sinceAttemptMs)
        await retryLater(pool, schema, lease, facts(new OutboxTakenOverError(String(id))), waitMs)
        return IDLE
      }
      const handler = this.#options.handlerFor(claimed.kind)
      if (handler === undefined) {
        // Another replica (a newer version, or one with the webhooks plugin) enqueued a kind this one cannot
        // run: the lane is left for a process that can, untouched, rather than failed here.
        await giveBack(pool, schema, lease, this.#options.pollMs * 10)
        log.warn({ instance, entry: id, kind: claimed.kind }, 'outbox: no handler for this kind of entry in this process; left for another')
        return IDLE
      }
      const settings = await this.#options.describe(instance)
      const budgetWaitMs = await this.#budget.take(settings.origin)
      if (budgetWaitMs > 0) {
        count('budgetWaits', instance)
        await giveBack(pool, schema, lease, budgetWaitMs)
        return { budgetWaitMs }
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
          const pre = claimed.preAimed
          // Aimed and guarded by the statement that kept the lane, with a client timeout of lease left: go.
          if (pre?.clear === true && pre.conversationId === conversationId && pre.leaseUntil - performance.now() >= settings.timeoutMs) {
            aimed = conversationId
            return
          }
          const aim = await aimAt(pool, schema, { ...lease, seq: claimed.seq }, conversationId, leaseMs)
          // A post starts only with at least one client timeout of lease ahead of it.
          if (aim.leftMs < settings.timeoutMs) throw new OutboxLeaseLostError(String(id))
          aimed = conversationId
          const { guard } = this.#options
          if (guard !== undefined && aim.ahead) throw new LaneRequeuedError(id)
          // Only then is the full guard needed: it asks Chatwoot whether those conversations are gone.
          if (guard !== undefined && aim.elsewhere) await guard(claimed, conversationId)
        }
      })
      const keep = keepLane && !claimed.probe ? { leaseMs, maxAgeMs: policy.maxAgeMs, slowChatwootMs: policy.slowChatwootMs } : undefined
      const settled = await delivered(pool, schema, lease, outcome, keep)
      if (!settled.settled) {
        count('leaseLost', instance)
        return IDLE
      }
      count(outcome.deduplicated ? 'deduplicated' : 'delivered', instance)
      if (claimed.probe && await resume(pool, schema, instance)) {
        count('resumed', instance)
        log.info({ instance }, 'outbox: the paused instance answered again; its entries go on')
      }
      return { budgetWaitMs: 0, next: settled.next }
    } catch (error) {
      const failure = facts(error)
      if (error instanceof LaneRequeuedError || failure.code === REQUEUED) {
        // Nothing was posted: the lane's head is now an earlier entry, taken at once by the next claim.
        await retryLater(pool, schema, lease, failure, 0).catch((settleError: unknown) => log.warn({ err: settleError, instance }, 'outbox: giving a lane back failed'))
        log.info({ instance, entry: id }, 'outbox: entries ahead of this one were queued again (their conversation was deleted); it waits behind them')
        return IDLE
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
    return IDLE
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
