import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { type CachedConversation, type Claim, type ConversationStore, decode, encode } from './store.js'

// Compare-and-delete and owner-checked unlock must be atomic: one script each, run by Redis.
const DELETE_IF_EQUAL = 'if redis.call(\'GET\', KEYS[1]) == ARGV[1] then return redis.call(\'DEL\', KEYS[1]) else return 0 end'
const EXPIRE_IF_EQUAL = 'if redis.call(\'GET\', KEYS[1]) == ARGV[1] then return redis.call(\'PEXPIRE\', KEYS[1], ARGV[2]) else return 0 end'

/** Redis through the host's ioredis client (from @fastify/redis); a duplicate connection listens to announcements. */
export class RedisStore implements ConversationStore {
  readonly #redis: Redis
  readonly #channel: string
  // Announcements carry their sender, so a process does not drop its own fresh copy.
  readonly #sender = randomUUID()

  constructor (redis: Redis, channel: string) {
    this.#redis = redis
    this.#channel = channel
  }

  async get (key: string) {
    return decode(await this.#redis.get(key))
  }

  async set (key: string, value: CachedConversation, ttlMs: number, abandoned?: AbortSignal) {
    await this.#redis.set(key, encode(value), 'PX', ttlMs)
    // Written after the caller gave up: by now a fresher id may be wanted, so take ours back.
    if (abandoned?.aborted === true) await this.compareAndDelete(key, value)
  }

  async compareAndDelete (key: string, value: CachedConversation) {
    return await this.#redis.eval(DELETE_IF_EQUAL, 1, key, encode(value)) === 1
  }

  async tryLock (key: string, ttlMs: number, abandoned?: AbortSignal) {
    const token = randomUUID()
    if (await this.#redis.set(key, token, 'PX', ttlMs, 'NX') !== 'OK') return undefined
    // Taken after the caller gave up: nobody would release it before it expires.
    if (abandoned?.aborted === true) {
      await this.unlock(key, token)
      return undefined
    }
    return token
  }

  async unlock (key: string, token: string) {
    await this.#redis.eval(DELETE_IF_EQUAL, 1, key, token)
  }

  async extendLock (key: string, token: string, ttlMs: number) {
    return await this.#redis.eval(EXPIRE_IF_EQUAL, 1, key, token, String(ttlMs)) === 1
  }

  async claim (key: string, ttlMs: number, abandoned?: AbortSignal): Promise<Claim> {
    if (await this.#redis.set(key, 'pending', 'PX', ttlMs, 'NX') === 'OK') {
      if (abandoned?.aborted !== true) return { claimed: true }
      await this.release(key)
    }
    const value = await this.#redis.get(key)
    return { claimed: false, messageId: value === null || value === 'pending' ? undefined : Number(value) }
  }

  async settle (key: string, messageId: number, ttlMs: number) {
    await this.#redis.set(key, String(messageId), 'PX', ttlMs)
  }

  async release (key: string) {
    await this.#redis.del(key)
  }

  async announce (key: string) {
    await this.#redis.publish(this.#channel, `${this.#sender} ${key}`)
  }

  async listen (listener: (key: string) => void) {
    // A subscribed connection can do nothing else: a connection of our own, closed by us.
    const subscriber = this.#redis.duplicate({ lazyConnect: true })
    subscriber.on('error', () => {})
    subscriber.on('message', (channel: string, message: string) => {
      const space = message.indexOf(' ')
      if (channel === this.#channel && message.slice(0, space) !== this.#sender) listener(message.slice(space + 1))
    })
    // Not awaited: a Redis that is down at start-up must not stop the app; ioredis subscribes when it connects.
    subscriber.subscribe(this.#channel).catch(() => {})
    return async () => {
      subscriber.disconnect()
    }
  }
}
