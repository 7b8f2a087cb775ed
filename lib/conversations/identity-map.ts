import type { Cluster, Redis } from 'ioredis'
import { BoundedMap, sweepIntervalFor } from '../bounded-map.js'
import { StoreUnavailableError } from './guarded-store.js'

// One person can reach us under several ids (a WhatsApp @lid and a phone id). The conversation cache,
// the get-or-create lock and the per-contact order must all key on the PERSON, so every id is mapped to
// one canonical id, and every process must agree on it without talking to the others.
//
// The rule: the ids a person is known by form a group; an id never linked is a group of its own whose
// canonical id is itself (so a delivery without aliases writes nothing). Linking ids joins their groups,
// and the joined group's canonical id is the SMALLEST of the groups' canonical ids (as stored, escaped).
// "Smallest" needs no clock and no order of arrival: two processes linking the same ids at once compute
// the same answer, and the Lua script makes each link one atomic step. A group keeps its canonical id
// when an id never seen joins it (the group's own id is the smaller or the newcomer's group loses), so
// a conversation cached under it stays found, except when two groups that both had deliveries meet:
// that is a late mapping, which the caller must converge (see docs/identity.md).

/** How long a link lives without a delivery refreshing it: the link must outlive any cached conversation. */
export const ALIAS_TTL_MS = 90 * 24 * 3_600_000

export interface IdentityLink {
  /** The id the person's conversation, lock and order are kept under. */
  canonical: string
  /** Canonical ids of other groups this call joined into `canonical`: a late mapping when not empty. */
  joined: string[]
  /**
   * A late mapping of this person is not yet converged (by this call or another process's): the cached
   * conversation may be one of the old ones, so the caller must find it afresh, then call settle().
   */
  converging: boolean
}

/** How long a late mapping stays marked unconverged if the process converging it dies before it settles. */
export const CONVERGE_TTL_MS = 300_000

const part = (value: string) => encodeURIComponent(value)
const unpart = (value: string) => decodeURIComponent(value)

// KEYS[1]: any key with the instance's hash tag. ARGV: key prefix (with that tag), ttl ms, converge ttl ms,
// then the escaped ids. Answers { canonical, '1' while converging else '0', '1' if a link changed else '0', joined... }.
// Every key shares the tag, so on a Cluster all live in one slot (the members keys cannot be declared ahead).
const LINK = `
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])
local groups, seen, ids, changed = {}, {}, {}, false
for i = 4, #ARGV do
  local id = ARGV[i]
  ids[#ids + 1] = id
  local canonical = redis.call('GET', prefix .. 'id:' .. id) or id
  if not seen[canonical] then seen[canonical] = true groups[#groups + 1] = canonical end
end
table.sort(groups)
local winner = groups[1]
local members = prefix .. 'members:' .. winner
local answer = { winner }
for i = 2, #groups do
  local loser = groups[i]
  answer[#answer + 1] = loser
  local moved = redis.call('SMEMBERS', prefix .. 'members:' .. loser)
  moved[#moved + 1] = loser
  for _, member in ipairs(moved) do
    redis.call('SET', prefix .. 'id:' .. member, winner, 'PX', ttl)
    redis.call('SADD', members, member)
  end
  redis.call('DEL', prefix .. 'members:' .. loser)
  changed = true
end
for _, id in ipairs(ids) do
  if id ~= winner then
    if redis.call('GET', prefix .. 'id:' .. id) ~= winner then changed = true end
    redis.call('SET', prefix .. 'id:' .. id, winner, 'PX', ttl)
    redis.call('SADD', members, id)
  end
end
if redis.call('EXISTS', members) == 1 then redis.call('PEXPIRE', members, ttl) end
local converging = prefix .. 'converging:' .. winner
if #groups > 1 then redis.call('SET', converging, '1', 'PX', ARGV[3]) end
table.insert(answer, 2, tostring(redis.call('EXISTS', converging)))
table.insert(answer, 3, changed and '1' or '0')
return answer`

/** The same rule in one process: the map when there is no Redis, and the fallback while Redis is down. */
export class LocalIdentityMap {
  readonly #canonical = new Map<string, string>()
  readonly #members = new Map<string, Set<string>>()
  readonly #converging = new Set<string>()
  readonly #maxEntries: number

  constructor (maxEntries: number) {
    this.#maxEntries = maxEntries
  }

  link (instance: string, ids: readonly string[]): IdentityLink {
    const local = (id: string) => unpart(id.slice(id.indexOf(':') + 1))
    if (ids.length === 1) {
      // One id links nothing: only read its group (most deliveries).
      const scopedId = `${part(instance)}:${part(ids[0]!)}`
      const canonical = this.#canonical.get(scopedId) ?? scopedId
      return { canonical: local(canonical), joined: [], converging: this.#converging.has(canonical) }
    }
    const scoped = ids.map((id) => `${part(instance)}:${part(id)}`)
    const groups = [...new Set(scoped.map((id) => this.#canonical.get(id) ?? id))].sort()
    const winner = groups[0]!
    const members = this.#members.get(winner) ?? new Set<string>()
    for (const loser of groups.slice(1)) {
      for (const member of [...(this.#members.get(loser) ?? []), loser]) {
        this.#canonical.set(member, winner)
        members.add(member)
      }
      this.#members.delete(loser)
    }
    for (const id of scoped) {
      if (id === winner) continue
      this.#canonical.set(id, winner)
      members.add(id)
    }
    if (members.size > 0) this.#members.set(winner, members)
    // Bounded like the other per-process maps: past the bound the oldest links go (Redis keeps them all).
    while (this.#canonical.size > this.#maxEntries) {
      const oldest = this.#canonical.keys().next().value!
      this.#canonical.delete(oldest)
    }
    const joined = groups.slice(1)
    if (joined.length > 0) this.#converging.add(winner)
    return { canonical: local(winner), joined: joined.map(local), converging: this.#converging.has(winner) }
  }

  settle (instance: string, canonical: string): void {
    this.#converging.delete(`${part(instance)}:${part(canonical)}`)
  }
}

export interface IdentityMapOptions {
  redis: Redis | Cluster | undefined
  keyPrefix: string
  maxEntries: number
  /**
   * Runs a call on Redis the way the conversation store's calls run (GuardedStore.guard): not while it is
   * down, bounded by redisTimeoutMs, counted; throws StoreUnavailableError instead. One outage, one timeout.
   */
  guard: <T>(call: () => Promise<T>) => Promise<T>
  /** Tells the other processes that links of an instance changed (the conversation store's pub/sub). */
  announce: (key: string) => Promise<void>
  /** How long this process trusts Redis's answer for an id delivered alone (the conversation cache's localTtlMs). */
  localTtlMs: number
}

/** The announcement that an instance's links changed: other processes drop their copies of its lone ids. */
export const linksChangedKey = (instance: string) => `\u0000aliases:${part(instance)}`

/** Canonical ids per instance: in Redis, shared by every process; in this process when there is none or it is down. */
export class IdentityMap {
  readonly #options: IdentityMapOptions
  readonly #local: LocalIdentityMap
  // Most deliveries carry one id that was never linked: asking Redis each time cost a round trip per
  // message (a fifth of a warm delivery). Its answer is kept here for localTtlMs, and dropped, in every
  // process, as soon as any link of the instance changes; `#generation` keeps an answer read before a
  // change from being stored after it.
  readonly #lone: BoundedMap<string, IdentityLink>
  #generation = 0

  constructor (options: IdentityMapOptions) {
    this.#options = options
    this.#local = new LocalIdentityMap(options.maxEntries)
    this.#lone = new BoundedMap({ maxEntries: options.maxEntries, sweepIntervalMs: sweepIntervalFor(options.localTtlMs) })
  }

  /** Ids held for lone deliveries in this process (at most maxEntries). */
  get localEntries (): number {
    return this.#lone.size
  }

  /** Hears another process's announcement: when an instance's links changed, its lone answers may be stale. */
  heard (key: string): void {
    if (!key.startsWith('\u0000aliases:')) return
    this.#forgetLone()
  }

  #forgetIds (instance: string, ids: readonly string[]): void {
    this.#generation++
    for (const id of ids) this.#lone.delete(`${part(instance)}:${part(id)}`)
  }

  #forgetLone (): void {
    // Links change once per pair of ids ever learnt: dropping every lone answer then is cheap and cannot miss one.
    this.#generation++
    this.#lone.clear()
  }

  /** Marks the person's late mapping converged: its conversation is cached afresh. */
  async settle (instance: string, canonical: string): Promise<void> {
    this.#local.settle(instance, canonical)
    const { redis, keyPrefix, guard } = this.#options
    if (redis === undefined) return
    // Left to expire when Redis fails now: until then deliveries only find the conversation afresh.
    await guard(() => redis.del(`${keyPrefix}{aliases:${part(instance)}}:converging:${part(canonical)}`)).catch(ignoreUnavailable)
  }

  /** Links `ids` (the first one the delivery's own) into one person and answers that person's canonical id. */
  async link (instance: string, ids: readonly string[]): Promise<IdentityLink> {
    const { redis, keyPrefix, guard } = this.#options
    const loneKey = redis !== undefined && ids.length === 1 ? `${part(instance)}:${part(ids[0]!)}` : undefined
    const known = loneKey === undefined ? undefined : this.#lone.get(loneKey)
    if (known !== undefined) return known
    // Kept in this process too: the answer while Redis is down.
    const local = this.#local.link(instance, ids)
    if (redis === undefined) return local
    // A link of several ids may change what any of them answers alone, even when another process made the change.
    if (loneKey === undefined) this.#forgetIds(instance, ids)
    const generation = this.#generation
    const prefix = `${keyPrefix}{aliases:${part(instance)}}:`
    // KEYS[1] only routes the script to the instance's slot on a Cluster (every key the script touches shares its tag).
    const answer = await guard(() => redis.eval(LINK, 1, `${prefix}route`, prefix, String(ALIAS_TTL_MS), String(CONVERGE_TTL_MS),
      ...ids.map(part)) as Promise<string[]>).catch(ignoreUnavailable)
    // Without Redis processes may disagree for a while; Chatwoot's contacts (found by any alias) still converge
    // them when their ids next meet in one delivery. A delivery is never failed for the map.
    if (answer === undefined) return local
    const link = { canonical: unpart(answer[0]!), converging: answer[1] === '1', joined: answer.slice(3).map(unpart) }
    if (answer[2] === '1') {
      this.#forgetLone()
      await this.#options.announce(linksChangedKey(instance)).catch(ignoreUnavailable)
    } else if (loneKey !== undefined && !link.converging && generation === this.#generation) {
      this.#lone.set(loneKey, link, this.#options.localTtlMs)
    }
    return link
  }
}

function ignoreUnavailable (error: unknown): undefined {
  if (error instanceof StoreUnavailableError) return undefined
  throw error
}
