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
}

export class InstanceRegistry {
  readonly #resolve: ResolveInstance
  readonly #ttl: number
  readonly #onListenerError: InstanceRegistryOptions['onListenerError']
  readonly #cache = new Map<string, CachedInstance>()
  readonly #flights = new SingleFlight<string, ResolvedInstance>()
  // Bumped by invalidate(): a resolve that started before it must not cache what it read.
  readonly #generations = new Map<string, number>()
  readonly #listeners = new Set<InstanceChangeListener>()

  constructor ({ resolve, ttl, onListenerError }: InstanceRegistryOptions) {
    this.#resolve = resolve
    this.#ttl = ttl
    this.#onListenerError = onListenerError
  }

  async get (name: string): Promise<ResolvedInstance> {
    assertInstanceName(name)
    const cached = this.#cache.get(name)
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.instance
    return this.#flights.run(name, () => this.#load(name))
  }

  invalidate (name: string): void {
    assertInstanceName(name)
    this.#generations.set(name, (this.#generations.get(name) ?? 0) + 1)
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
    const generation = this.#generations.get(name) ?? 0
    const config = await this.#resolve(name)
    if (config === undefined || config === null) {
      // An instance removed from the host's store must not live on in the cache.
      if (this.#cache.delete(name)) this.#emit(name)
      throw new InstanceNotFoundError(name)
    }
    const instance = validateInstanceConfig(name, config)
    if ((this.#generations.get(name) ?? 0) !== generation) return instance

    const previous = this.#cache.get(name)
    const print = fingerprint(instance)
    this.#cache.set(name, { instance, fingerprint: print, expiresAt: Date.now() + this.#ttl })
    if (previous !== undefined && previous.fingerprint !== print) this.#emit(name)
    return instance
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
