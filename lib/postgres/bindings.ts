import type { PoolRecord } from './pool-record.js'

interface Binding {
  record: PoolRecord
  /** Until then the binding is used without asking `resolve` again. */
  checkedUntil: number
}

/**
 * Which pool each instance name uses, trusted for revalidateMs: within it a use is one map
 * lookup, after it (or once marked stale) the settings are resolved again.
 */
export class Bindings {
  readonly #revalidateMs: number
  readonly #bindings = new Map<string, Binding>()

  constructor (revalidateMs: number) {
    this.#revalidateMs = revalidateMs
  }

  /** `name`'s pool while its binding is trusted; undefined when the settings must be resolved. */
  fresh (name: string, now = Date.now()): PoolRecord | undefined {
    const binding = this.#bindings.get(name)
    if (binding === undefined || binding.checkedUntil <= now) return undefined
    binding.record.lastUsed = now
    return binding.record
  }

  record (name: string): PoolRecord | undefined {
    return this.#bindings.get(name)?.record
  }

  /**
   * Binds `name` to `record` for another revalidateMs. Answers the pool it was bound to before
   * when nobody uses that one any more (the settings changed): the caller retires it.
   */
  bind (name: string, record: PoolRecord): PoolRecord | undefined {
    const previous = this.#bindings.get(name)?.record
    let abandoned: PoolRecord | undefined
    if (previous !== record) {
      this.unbind(name)
      record.names.add(name)
      if (previous !== undefined && previous.names.size === 0) abandoned = previous
    }
    const now = Date.now()
    record.lastUsed = now
    this.#bindings.set(name, { record, checkedUntil: now + this.#revalidateMs })
    return abandoned
  }

  unbind (name: string): void {
    const binding = this.#bindings.get(name)
    if (binding === undefined) return
    this.#bindings.delete(name)
    binding.record.names.delete(name)
  }

  /** Unbinds every name bound to `record` (it is being retired). */
  unbindAll (record: PoolRecord): void {
    for (const name of record.names) this.#bindings.delete(name)
    record.names.clear()
  }

  /** The next use of `name` resolves its settings again. */
  markStale (name: string): void {
    const binding = this.#bindings.get(name)
    if (binding !== undefined) binding.checkedUntil = 0
  }
}
