import { type OutageGuard, StoreUnavailableError } from './guarded-store.js'
import type { LockStore } from './postgres-locks.js'

/** A lock store whose every call is bounded by `guard`: a Postgres that is down or slow reads as unavailable. */
export function guardedLocks (locks: LockStore, guard: OutageGuard): LockStore {
  return {
    tryLock: (key, ttlMs) => guard.run((abandoned) => locks.tryLock(key, ttlMs, abandoned)),
    unlock: (key, token) => guard.run(() => locks.unlock(key, token)),
    extendLock: (key, token, ttlMs) => guard.run(() => locks.extendLock(key, token, ttlMs))
  }
}

/**
 * Lock stores in order of preference: tryLock asks the first that is available (a store that is down
 * throws StoreUnavailableError, and the next is asked); the token remembers which store issued it, so
 * extendLock and unlock go to that one whatever has happened to the others since. When every store is
 * unavailable tryLock throws StoreUnavailableError, and the caller goes on with its in-process lock only.
 */
export class LockChain implements LockStore {
  readonly #stores: readonly LockStore[]

  constructor (stores: readonly LockStore[]) {
    this.#stores = stores
  }

  async tryLock (key: string, ttlMs: number): Promise<string | undefined> {
    let unavailable: unknown
    for (const [index, store] of this.#stores.entries()) {
      try {
        const token = await store.tryLock(key, ttlMs)
        return token === undefined ? undefined : `${index}:${token}`
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) throw error
        unavailable = error
      }
    }
    throw unavailable ?? new StoreUnavailableError()
  }

  unlock (key: string, token: string): Promise<void> {
    const [store, own] = this.#issuer(token)
    return store.unlock(key, own)
  }

  extendLock (key: string, token: string, ttlMs: number): Promise<boolean> {
    const [store, own] = this.#issuer(token)
    return store.extendLock(key, own, ttlMs)
  }

  #issuer (token: string): [LockStore, string] {
    const colon = token.indexOf(':')
    const store = this.#stores[Number(token.slice(0, colon))]
    // A token this chain never issued owns nothing: ask the first store, which will find no such lock.
    return store === undefined || colon === -1 ? [this.#stores[0]!, token] : [store, token.slice(colon + 1)]
  }
}
