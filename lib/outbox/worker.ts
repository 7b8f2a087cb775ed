import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import { OutboxExpiredError, OutboxLeaseLostError, OutboxTakenOverError } from '../errors.js'
import { LocalBudget } from './budget.js'
import { type Claimed, claim } from './claim.js'
import type { OutboxPool } from './db.js'
import type { EntryHandler } from './entry-kind.js'
import { LaneRequeuedError } from './deletion.js'
import { facts, type FailureContext, settleFailure } from './failure.js'
import { type LeaseRef, aimAt, giveBack, renew } from './lease.js'
import { Permits, type Ticket } from './permits.js'
import { prepared } from './prepared.js'
import type { PolicySettings } from './schedule-policy.js'
import { delivered, expire, resume, retryLater } from './settle.js'

export type OutboxEvent = 'delivered' | 'deduplicated' | 'retried' | 'dead' | 'paused' | 'resumed' | 'budgetWaits' | 'leaseLost'

export interface WorkerOptions {
  pool: OutboxPool
  /** Send the worker's statements named (prepared once per connection); false on the embedded PGlite. */
  prepared?: boolean
  schema: string
  /** Attempts whose handler (deliver()) runs at once; twice as many loops hold lanes, so statements overlap posts. */
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
  /** The lane's next entry, leased on and started by the settle of this one, and its place in the line to post. */
  next?: { claimed: Claimed, turn: Ticket }
  /** Without a next entry: the place in the line taken before the settle, kept for the loop's next claim. */
  spare?: Ticket
}
const IDLE: Attempted = { budgetWaitMs: 0 }

/**
 * Workers of one process: loops that each lease one lane at a time, twice `concurrency` of them, of which
 * `concurrency` run their entry's handler at once (Permits). A loop's claim and settle statements, a few
 * milliseconds each on a busy database, then run while other loops post, instead of between its own posts
 * with a post slot idle. The second half only look for work when woken, so an idle process polls no more.
 */
export class OutboxWorker {
  readonly #options: WorkerOptions
  readonly #id = randomUUID()
  readonly #loops: Promise<void>[] = []
  readonly #sleepers = new Set<() => void>()
  readonly #budget: LocalBudget
  readonly #posts: Permits
  readonly #failures: FailureContext
  #closed = false
  // An enqueue's wake found no loop asleep: the next loop that finds nothing asks once more instead of sleeping.
  #missed = false

  constructor (options: WorkerOptions) {
    this.#options = { ...options, pool: options.prepared === true ? prepared(options.pool) : options.pool }
    this.#budget = new LocalBudget(this.#options.pool, options.schema, options.requestsPerMinute)
    this.#posts = new Permits(options.concurrency)
    const configHash = (instance: string) => options.describe(instance).then((settings) => settings.configHash, () => null)
    const { schema, log, count, policy, windowWaitMs } = options
    this.#failures = { pool: this.#options.pool, schema, log, count, configHash, policy, windowWaitMs }
  }

  start (): void {
    for (let index = 0; index < this.#options.concurrency * 2; index++) this.#loops.push(this.#loop(index < this.#options.concurrency))
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

  /** `polls`: looks for work every pollMs when idle; else only when woken (by an enqueue, or a loop that found work). */
  async #loop (polls: boolean): Promise<void> {
    const { pool, schema, leaseMs, policy, log } = this.#options
    const settings = { schema, leaseMs, probeMs: policy.probeMs, maxAgeMs: policy.maxAgeMs, slowChatwootMs: policy.slowChatwootMs }
    let spare: Ticket | undefined
    while (!this.#closed) {
      let claimed: Claimed | null | undefined
      // In the line to post before the claim is sent: a kept lane that comes back sooner does not overtake it.
      const turn = spare ?? this.#posts.reserve()
      spare = undefined
      try {
        claimed = await claim(pool, `${this.#id}:${randomUUID()}`, settings)
      } catch (error) {
        turn.cancel()
        log.warn({ err: error }, 'outbox: claiming a lane failed; trying again shortly')
        await this.#sleep(this.#options.pollMs * 4)
        continue
      }
      if (claimed == null) turn.cancel()
      if (claimed === null) continue
      if (claimed === undefined) {
        if (this.#missed) this.#missed = false
        else await this.#sleep(polls ? this.#options.pollMs : undefined)
        continue
      }
      // Found work: there may be more, so a sleeping loop looks too (an enqueue wakes only one).
      this.wake()
      let next: Attempted['next'] = { claimed, turn }
      for (let run = 1; next !== undefined; run++) {
        const done: Attempted = await this.#attempt(next.claimed, next.turn, run < RUN_LIMIT && !this.#closed)
        // Over the origin's budget: every lane of that origin would say the same, so this loop rests instead of asking each.
        if (done.budgetWaitMs > 0) await this.#sleep(Math.min(done.budgetWaitMs, 1000))
        next = done.next
        spare = done.spare
      }
    }
    spare?.cancel()
  }

  /** Sleeps about `ms` (jittered, so replicas do not poll in step), or until woken; undefined: until woken. */
  #sleep (ms: number | undefined): Promise<void> {
    if (this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#sleepers.delete(done)
        resolve()
      }
      const timer = ms === undefined ? undefined : setTimeout(done, Math.round(ms * (0.75 + Math.random() / 2)))
      this.#sleepers.add(done)
    })
  }

  /**
   * One attempt at the claimed entry (its attempt already counted by the claim); never throws. Answers how
   * long the origin's budget says to wait (0 mostly), and the lane's next entry when the lane was kept for it.
   */
  async #attempt (claimed: Claimed, turn: Ticket, keepLane: boolean): Promise<Attempted> {
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
    let nextTurn: Ticket | undefined
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
      }))
      const keep = keepLane && !claimed.probe ? { leaseMs, maxAgeMs: policy.maxAgeMs, slowChatwootMs: policy.slowChatwootMs } : undefined
      // The loop's next post takes its place in the line now, before the statement that finds it.
      nextTurn = this.#posts.reserve()
      const settled = await delivered(pool, schema, lease, outcome, keep)
      if (!settled.settled) {
        count('leaseLost', instance)
        nextTurn.cancel()
        return IDLE
      }
      count(outcome.deduplicated ? 'deduplicated' : 'delivered', instance)
      if (claimed.probe && await resume(pool, schema, instance)) {
        count('resumed', instance)
        log.info({ instance }, 'outbox: the paused instance answered again; its entries go on')
      }
      return settled.next === undefined ? { budgetWaitMs: 0, spare: nextTurn } : { budgetWaitMs: 0, next: { claimed: settled.next, turn: nextTurn } }
    } catch (error) {
      nextTurn?.cancel()
      await settleFailure(this.#failures, claimed, lease, error, { aimed, ageMs: claimed.ageMs + Date.now() - started })
    } finally {
      turn.cancel()
      clearInterval(renewal)
    }
    return IDLE
  }
}
