import { randomUUID } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import { type CachedConversation, type Claim, type ConversationStore, decode, encode, readClaim } from './store.js'

// Every check-then-write is one script run by Redis, so it is atomic. Each script touches exactly
// one key (KEYS[1]): on a Cluster it runs on that key's node whatever the key looks like.
const DELETE_IF_EQUAL = 'if redis.call(\'GET\', KEYS[1]) == ARGV[1] then return redis.call(\'DEL\', KEYS[1]) else return 0 end'
const EXPIRE_IF_EQUAL = 'if redis.call(\'GET\', KEYS[1]) == ARGV[1] then return redis.call(\'PEXPIRE\', KEYS[1], ARGV[2]) else return 0 end'

// Deadlines are read from the node's own clock (TIME), never the workers'. Formats: see store.ts.
// TIME before a write and SET KEEPTTL need Redis 6 or later.
const NOW = 'local t = redis.call(\'TIME\') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) '
const OWNER = 'local value = redis.call(\'GET\', KEYS[1]) ' +
  'if not value or string.match(value, \'^pending:([^:]*):%d+$\') ~= ARGV[1] then return 0 end '

// ARGV: token, claim ttl, key ttl. Answers {1, takenOver} or {0, the value that refused it}.
const CLAIM = NOW + `
local value = redis.call('GET', KEYS[1])
local takenOver = 0
if value then
  local deadline = tonumber(string.match(value, '^pending:[^:]*:(%d+)$'))
  if deadline == nil or deadline > now then return {0, value} end
  takenOver = 1
end
redis.call('SET', KEYS[1], 'pending:' .. ARGV[1] .. ':' .. string.format('%.0f', now + tonumber(ARGV[2])), 'PX', math.max(tonumber(ARGV[2]), tonumber(ARGV[3])))
return {1, takenOver}`

// ARGV: token, ttl. A ttl of 0 ends the claim at once but keeps its marker.
const EXTEND_CLAIM = OWNER + NOW + `
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], 'pending:' .. ARGV[1] .. ':' .. string.format('%.0f', now + ttl), 'KEEPTTL')
if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`

const RELEASE_CLAIM = OWNER + 'return redis.call(\'DEL\', KEYS[1])'

/**
 * Redis through the host's ioredis client: a `Redis` or a `Cluster` (one conversation's keys share a
 * hash tag, see keys.ts, and no script touches two keys). A duplicate connection listens to announcements.
 */
export class RedisStore implements ConversationStore {
  readonly #redis: Redis | Cluster
  readonly #channel: string
  // Announcements carry their sender, so a process does not drop its own fresh copy.
  readonly #sender = randomUUID()

  constructor (redis: Redis | Cluster, channel: string) {
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

  async claim (key: string, ttlMs: number, attemptTtlMs: number, abandoned?: AbortSignal): Promise<Claim> {
    const token = randomUUID()
    const [claimed, answer] = await this.#redis.eval(CLAIM, 1, key, token, String(ttlMs), String(attemptTtlMs)) as [number, number | string]
    if (claimed === 1) {
      // The caller gave up and goes on posting without a claim: end ours, but keep the marker of an
      // attempt in flight, so a redelivery looks in Chatwoot before posting beside it.
      if (abandoned?.aborted === true) await this.#redis.eval(EXTEND_CLAIM, 1, key, token, '0')
      return { claimed: true, token, takenOver: answer === 1 }
    }
    const state = readClaim(String(answer))
    return { claimed: false, messageId: state?.state === 'settled' ? state.messageId : undefined }
  }

  async extendClaim (key: string, token: string, ttlMs: number) {
    return await this.#redis.eval(EXTEND_CLAIM, 1, key, token, String(ttlMs)) === 1
  }

  async settle (key: string, messageId: number, ttlMs: number) {
    await this.#redis.set(key, String(messageId), 'PX', ttlMs)
  }

  async release (key: string, token: string) {
    await this.#redis.eval(RELEASE_CLAIM, 1, key, token)
  }

  async announce (key: string) {
    await this.#redis.publish(this.#channel, `${this.#sender} ${key}`)
  }

  async listen (listener: (key: string) => void) {
    // A subscribed connection can do nothing else: a connection of our own, closed by us. A Cluster
    // subscribes through one node; Redis Cluster sends every PUBLISH to every node.
    const subscriber = isCluster(this.#redis)
      ? this.#redis.duplicate([], { lazyConnect: true })
      : this.#redis.duplicate({ lazyConnect: true })
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

function isCluster (redis: Redis | Cluster): redis is Cluster {
  return (redis as Cluster).isCluster === true
}
