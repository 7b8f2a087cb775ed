import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import { attempt, type AttemptContext } from './attempt.js'
import { LocalBudget } from './budget.js'
import { type Claimed, claim } from './claim.js'
import type { OutboxPool } from './db.js'
import type { EntryHandler } from './entry-kind.js'
import type { FailureContext } from './failure.js'
import { renew } from './lease.js'
import { Permits, type Ticket } from './permits.js'
import { prepared } from './prepared.js'
import type { PolicySettings } from './schedule-policy.js'
import { delivered, type Recorded, resume } from './settle.js'

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

// A lane's next entries are started with its head (a batch): one statement starts them and one records
// their deliveries, instead of one per entry. While another instance waits, one at a time. A loop holds a
// lane for at most this many entries in a row, in one batch or in several (the lane kept by the statement
// that records one and starts the next), then the lane goes back to the round-robin, where other lanes wait.
const RUN_LIMIT = 8

/** What one attempt leaves the loop with. */
interface Attempted {
  budgetWaitMs: number
  /** The lane's next batch, started by the statement that recorded this one (the lane kept), and its place in the line to post. */
  next?: { claimed: Claimed, turn: Ticket }
  /** Without a next entry: the place in the line taken before the settle, kept for the loop's next claim. */
  spare?: Ticket
}
const IDLE: Attempted = { budgetWaitMs: 0 }
// Nothing is lost: the lease runs out and the lane's next worker checks Chatwoot before posting again.
const RECORD_FAILED = 'outbox: recording deliveries failed; the lane\'s next worker checks them'

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
  readonly #context: AttemptContext
  #closed = false
  // An enqueue's wake found no loop asleep: the next loop that finds nothing asks once more instead of sleeping.
  #missed = false

  constructor (options: WorkerOptions) {
    this.#options = { ...options, pool: options.prepared === true ? prepared(options.pool) : options.pool }
    this.#budget = new LocalBudget(this.#options.pool, options.schema, options.requestsPerMinute)
    this.#posts = new Permits(options.concurrency)
    const configHash = (instance: string) => options.describe(instance).then((settings) => settings.configHash, () => null)
    const { schema, log, count, policy, windowWaitMs } = options
    const failures: FailureContext = { pool: this.#options.pool, schema, log, count, configHash, policy, windowWaitMs }
    this.#context = { options: this.#options, budget: this.#budget, failures }
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
    const settings = { schema, leaseMs, probeMs: policy.probeMs, maxAgeMs: policy.maxAgeMs, slowChatwootMs: policy.slowChatwootMs, followers: RUN_LIMIT - 1 }
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
      for (let held = 0; next !== undefined;) {
        held += 1 + (next.claimed.followers?.length ?? 0)
        const done: Attempted = await this.#batch(next.claimed, next.turn, this.#closed ? 0 : RUN_LIMIT - held)
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
   * The claimed entry and the batch started behind it, posted in order; their deliveries recorded in one
   * statement at the end (or before anything that needs them recorded), which also keeps the lane and
   * starts its next batch of up to `room` entries while there is room. Never throws. Answers how long the
   * origin's budget says to wait (0 mostly), and the lane's next batch when the lane was kept for it.
   */
  async #batch (claimed: Claimed, turn: Ticket, room: number): Promise<Attempted> {
    const { pool, schema, leaseMs, policy, log, count } = this.#options
    const { instance, lane, token } = claimed
    const entries = [claimed, ...claimed.followers ?? []]
    const recorded: Recorded[] = []
    let written = 0
    let strays = claimed.strays ?? []
    const tally = (from: number) => {
      for (const { outcome } of recorded.slice(from)) count(outcome.deduplicated ? 'deduplicated' : 'delivered', instance)
    }
    // Renewed while working, so a long batch keeps its lane; a failed renewal is seen by the next post's guard.
    const renewal = setInterval(() => {
      renew(pool, schema, claimed, leaseMs).catch((error: unknown) => log.warn({ err: error, instance }, 'outbox: renewing a lease failed'))
    }, Math.max(1, Math.floor(leaseMs / 3)))
    renewal.unref()
    let nextTurn: Ticket | undefined
    try {
      for (const [at, entry] of entries.entries()) {
        if (at > 0 && this.#closed) {
          // Closing: the rest of the batch is started back and the lane given back with what was posted.
          strays = [...strays, ...entries.slice(at).map((behind) => behind.id)]
          break
        }
        const flush = async (giveUpRest: boolean) => {
          const unstart = giveUpRest ? [...entries.slice(at + 1).map((behind) => behind.id), ...strays] : []
          if (written === recorded.length && unstart.length === 0) return true
          const done = await delivered(pool, schema, { instance, lane, token }, recorded.slice(written), unstart, 'hold')
            .catch((error: unknown) => {
              log.warn({ err: error, instance }, RECORD_FAILED)
              return { settled: false }
            })
          if (done.settled) tally(written)
          written = recorded.length
          if (giveUpRest) strays = []
          return done.settled
        }
        const clean = recorded.every(({ outcome }) => outcome.conversationId === entry.preAimed?.conversationId)
        const end = await attempt(this.#context, entry, at === 0 ? turn : this.#posts.reserve(), { clean, flush })
        if (end.outcome === undefined) return end.budgetWaitMs > 0 ? { budgetWaitMs: end.budgetWaitMs } : IDLE
        recorded.push({ id: entry.id, outcome: end.outcome, at: performance.now() })
      }
      const keep = room > 0 && !claimed.probe && !this.#closed ? { leaseMs, maxAgeMs: policy.maxAgeMs, slowChatwootMs: policy.slowChatwootMs, followers: room - 1 } : 'release'
      // The loop's next post takes its place in the line now, before the statement that finds it.
      nextTurn = this.#posts.reserve()
      const settled = await delivered(pool, schema, { instance, lane, token }, recorded.slice(written), strays, keep)
      if (!settled.settled) {
        count('leaseLost', instance)
        nextTurn.cancel()
        return IDLE
      }
      tally(written)
      if (claimed.probe && await resume(pool, schema, instance)) {
        count('resumed', instance)
        log.info({ instance }, 'outbox: the paused instance answered again; its entries go on')
      }
      return settled.next === undefined ? { budgetWaitMs: 0, spare: nextTurn } : { budgetWaitMs: 0, next: { claimed: settled.next, turn: nextTurn } }
    } catch (error) {
      // Only the last statement can throw here: the lease runs out and the lane's next worker checks before posting.
      nextTurn?.cancel()
      log.warn({ err: error, instance }, RECORD_FAILED)
      return IDLE
    } finally {
      clearInterval(renewal)
    }
  }
}
