import { BoundedMap, DEFAULT_MAX_ENTRIES } from '../bounded-map.js'
import { InstanceNotFoundError } from '../errors.js'
import { fingerprint } from '../fingerprint.js'
import { SingleFlight } from '../single-flight.js'
import { type InstanceConfig, type ResolvedInstance, validateInstanceConfig } from './config.js'
import { assertInstanceName } from './name.js'

type Maybe<T> = T | undefined | null
export type ResolveInstance = (name: string) => Maybe<InstanceConfig> | Promise<Maybe<InstanceConfig>>
export type InstanceChangeListener = (name: string) => void

interface CachedInstance {
  instance: ResolvedInstance
  fingerprint: string
  expiresAt: number
}

export interface InstanceRegistryOptions {
  resolve: ResolveInstance
  ttl: number
  onListenerError: (error: unknown, name: string) => void
  /** Most instances kept; the least recently used go first. Default 100 000. */
  maxEntries?: number
}

export class InstanceRegistry {
  readonly #resolve: ResolveInstance
  readonly #ttl: number
  readonly #onListenerError: InstanceRegistryOptions['onListenerError']
  readonly #flights = new SingleFlight<string, ResolvedInstance>()
  // An entry past its ttl is not dead: its fingerprint tells whether the next resolve changed the
  // settings (and listeners must hear of it), so entries leave by the bound alone, never while
  // their name is being resolved. Only names whose resolve succeeded get one.
  readonly #cache: BoundedMap<string, CachedInstance>
  // The resolves running now, each marked stale by an invalidate() that came while it ran (it must
  // not cache what it read). Each removes itself when done: no entry outlives its resolve.
  readonly #loads = new Map<string, { stale: boolean }>()
  readonly #listeners = new Set<InstanceChangeListener>()

  constructor ({ resolve, ttl, onListenerError, maxEntries = DEFAULT_MAX_ENTRIES }: InstanceRegistryOptions) {
    this.#resolve = resolve
    this.#ttl = ttl
    this.#onListenerError = onListenerError
    this.#cache = new BoundedMap({ maxEntries, busy: (_cached, name) => this.#flights.has(name) })
  }

  async get (name: string): Promise<ResolvedInstance> {
    assertInstanceName(name)
    const cached = this.#cache.get(name)
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.instance
    return this.#flights.run(name, () => this.#load(name))
  }

  /** Instances held now (at most maxEntries, but for names being resolved). */
  get size (): number {
    return this.#cache.size
  }

  invalidate (name: string): void {
    assertInstanceName(name)
    const load = this.#loads.get(name)
    if (load !== undefined) load.stale = true
    this.#flights.forget(name)
    this.#cache.delete(name)
    this.#emit(name)
  }

  /** Called with a name when it is invalidated or when a new resolve gives different settings. */
  onChange (listener: InstanceChangeListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  async #load (name: string): Promise<ResolvedInstance> {
    const load = { stale: false }
    this.#loads.set(name, load)
    try {
      const config = await this.#resolve(name)
      if (config === undefined || config === null) {
        // An instance removed from the host's store must not live on in the cache.
        if (this.#cache.delete(name)) this.#emit(name)
        throw new InstanceNotFoundError(name)
      }
      const instance = validateInstanceConfig(name, config)
      if (load.stale) return instance

      const previous = this.#cache.peek(name)
      const print = fingerprint(instance)
      this.#cache.set(name, { instance, fingerprint: print, expiresAt: Date.now() + this.#ttl })
      if (previous !== undefined && previous.fingerprint !== print) this.#emit(name)
      return instance
    } finally {
      // A resolve started after an invalidate() may have replaced this one's mark.
      if (this.#loads.get(name) === load) this.#loads.delete(name)
    }
  }

  #emit (name: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(name)
      } catch (error) {
        this.#onListenerError(error, name)
      }
    }
  }
}
