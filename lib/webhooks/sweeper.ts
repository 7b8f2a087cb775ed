import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { BoundedMap } from '../bounded-map.js'
import { sweep, type SweepDeps, type SweepResult } from './reconcile.js'
import type { Watermarks } from './watermark.js'

export interface SweeperOptions {
  watermarks: Watermarks
  deps: SweepDeps
  everyMs: number
  log: FastifyBaseLogger
}

// A sweep that outlives this is taken to have died with its process: another replica takes the instance.
const LEASE_MS = 5 * 60_000

/** Runs the sweep of each known instance every `everyMs`, one replica per instance at a time. */
export class Sweeper {
  readonly #options: SweeperOptions
  readonly #owner = randomUUID()
  // Instances whose row this process wrote already: one INSERT per instance and process, not per webhook.
  readonly #noted = new BoundedMap<string, true>({ maxEntries: 10_000, sweepIntervalMs: 60_000 })
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined

  constructor (options: SweeperOptions) {
    this.#options = options
  }

  heard (instance: string): void {
    if (this.#noted.has(instance)) return
    this.#noted.set(instance, true, 24 * 3_600_000)
    this.#options.watermarks.note(instance).catch((error: unknown) => {
      this.#noted.delete(instance)
      this.#options.log.warn({ err: error, instance }, 'chatwootWebhooks: could not record the instance for the reconciliation sweep')
    })
  }

  /** One sweep of `instance` now if no replica holds it; undefined when another does. */
  async run (instance: string, everyMs = 0): Promise<SweepResult | undefined> {
    const { watermarks, deps, log } = this.#options
    const mark = await watermarks.take(instance, this.#owner, LEASE_MS, everyMs)
    if (mark === undefined) return undefined
    let result: SweepResult | undefined
    try {
      result = await sweep(deps, instance, mark)
      return result
    } finally {
      // After a failure the mark stays where it was: the next sweep covers the same messages again.
      await watermarks.finish(instance, this.#owner, result?.mark).catch((error: unknown) => {
        log.warn({ err: error, instance }, 'chatwootWebhooks: could not store the sweep\'s watermark')
      })
      if (result !== undefined && result.enqueued > 0) {
        log.warn({ instance, enqueued: result.enqueued }, 'chatwootWebhooks: the sweep found agent replies whose webhook never came; they are queued')
      }
    }
  }

  start (): void {
    const { everyMs } = this.#options
    this.#timer = setInterval(() => {
      if (this.#running === undefined) this.#running = this.#tick().finally(() => { this.#running = undefined })
    }, Math.max(10, Math.round(everyMs / 2)))
    this.#timer.unref()
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await this.#running
  }

  async #tick (): Promise<void> {
    const { watermarks, everyMs, log } = this.#options
    let instances: string[]
    try {
      instances = await watermarks.instances()
    } catch (error) {
      log.warn({ err: error }, 'chatwootWebhooks: could not list the instances to sweep')
      return
    }
    for (const instance of instances) {
      await this.run(instance, everyMs).catch((error: unknown) => {
        log.warn({ err: error, instance }, 'chatwootWebhooks: the reconciliation sweep failed; the next one covers the same messages')
      })
    }
  }
}
