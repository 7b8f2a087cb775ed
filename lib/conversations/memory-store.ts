import { randomUUID } from 'node:crypto'
import { type CachedConversation, type Claim, type ConversationStore, decode, encode } from './store.js'

interface Entry { value: string, expires: number }

/** One process only: what the cache falls back to without @fastify/redis. */
export class MemoryStore implements ConversationStore {
  readonly #entries = new Map<string, Entry>()

  #read (key: string): string | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expires <= Date.now()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry.value
  }

  #write (key: string, value: string, ttlMs: number): void {
    this.#entries.set(key, { value, expires: Date.now() + ttlMs })
  }

  async get (key: string) {
    return decode(this.#read(key))
  }

  async set (key: string, value: CachedConversation, ttlMs: number) {
    this.#write(key, encode(value), ttlMs)
  }

  async compareAndDelete (key: string, value: CachedConversation) {
    if (this.#read(key) !== encode(value)) return false
    this.#entries.delete(key)
    return true
  }

  async tryLock (key: string, ttlMs: number) {
    if (this.#read(key) !== undefined) return undefined
    const token = randomUUID()
    this.#write(key, token, ttlMs)
    return token
  }

  async unlock (key: string, token: string) {
    if (this.#read(key) === token) this.#entries.delete(key)
  }

  async extendLock (key: string, token: string, ttlMs: number) {
    if (this.#read(key) !== token) return false
    this.#write(key, token, ttlMs)
    return true
  }

  async claim (key: string, ttlMs: number): Promise<Claim> {
    const value = this.#read(key)
    if (value === undefined) {
      this.#write(key, 'pending', ttlMs)
      return { claimed: true }
    }
    return { claimed: false, messageId: value === 'pending' ? undefined : Number(value) }
  }

  async settle (key: string, messageId: number, ttlMs: number) {
    this.#write(key, String(messageId), ttlMs)
  }

  async release (key: string) {
    this.#entries.delete(key)
  }

  async announce () {}

  async listen () {
    return async () => {}
  }
}
