import type pg from 'pg'
import { deleteConversation } from './data/conversations.js'

/**
 * Chatwoot answers a conversation DELETE at once and deletes the rows in a DeleteObjectJob later:
 * until the job runs the conversation still takes messages (200), which then vanish with it.
 * These are those jobs, one timer per conversation; `delayMs` 0 deletes inside the request.
 */
export class DelayedDeletes {
  readonly #pool: pg.Pool
  readonly #delayMs: number
  readonly #pending = new Map<string, { accountId: number, displayId: number, timer: NodeJS.Timeout }>()

  constructor (pool: pg.Pool, delayMs: number) {
    this.#pool = pool
    this.#delayMs = delayMs
  }

  /** Queues the delete (or runs it when there is no delay); a second DELETE while queued changes nothing. */
  async enqueue (accountId: number, displayId: number): Promise<void> {
    if (this.#delayMs === 0) {
      await deleteConversation(this.#pool, accountId, displayId)
      return
    }
    const key = `${accountId}:${displayId}`
    if (this.#pending.has(key)) return
    const timer = setTimeout(() => {
      // A failure here (the simulator closing) loses the job, as a crashed Sidekiq worker would.
      this.#run(key).catch(() => {})
    }, this.#delayMs)
    timer.unref()
    this.#pending.set(key, { accountId, displayId, timer })
  }

  /** Conversations deleted but not yet gone. */
  get pending (): number {
    return this.#pending.size
  }

  /** Runs every queued delete now, as if the jobs' time had come; resolves to how many rows went. */
  async flush (): Promise<number> {
    let deleted = 0
    for (const key of [...this.#pending.keys()]) {
      if (await this.#run(key)) deleted += 1
    }
    return deleted
  }

  /** Forgets the queued jobs (the simulator is closing). */
  clear (): void {
    for (const { timer } of this.#pending.values()) clearTimeout(timer)
    this.#pending.clear()
  }

  async #run (key: string): Promise<boolean> {
    const job = this.#pending.get(key)
    if (job === undefined) return false
    clearTimeout(job.timer)
    this.#pending.delete(key)
    return deleteConversation(this.#pool, job.accountId, job.displayId)
  }
}
