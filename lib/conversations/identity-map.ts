import type { Cluster, Redis } from 'ioredis'
import { BoundedMap, sweepIntervalFor } from '../bounded-map.js'
import { StoreUnavailableError } from './guarded-store.js'
import { type IdentityLink, LocalIdentityMap, part, unpart } from './identity-links-local.js'
import type { DurableLinks } from './identity-links-postgres.js'
import { aliasPrefix, linkInRedis } from './identity-links-redis.js'

// One person can reach us under several ids (a WhatsApp @lid and a phone id). The conversation cache,
// the get-or-create lock and the per-contact order must all key on the PERSON, so every id is mapped to
// one canonical id, and every process must agree on it without talking to the others.
//
// The rule: the ids a person is known by form a group; an id never linked is a group of its own whose
// canonical id is itself. Linking ids joins their groups, and the joined group's canonical id is the
// SMALLEST of the groups' canonical ids (as stored, escaped), so always the smallest id of the group.
// "Smallest" needs no clock and no order of arrival: two processes linking the same ids at once compute
// the same answer, and Redis's Lua script (Postgres's function while Redis is down) makes each link one
// atomic step. When two groups that both had deliveries meet, that is a late mapping, which the caller
// must converge (see docs/identity.md). Redis holds the map; Postgres, when configured, a durable copy.

export { ALIAS_TTL_MS, CONVERGE_TTL_MS } from './identity-links-redis.js'
export { type IdentityLink, LocalIdentityMap } from './identity-links-local.js'

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
  /** The durable copy in Postgres (the `postgres` option); without it, Redis and this process only. */
  durable?: DurableLinks
  /** Whether Redis answered lately (the store's health): no announcement arrives while it is down. Default: always. */
  healthy?: () => boolean
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
  // Links made in Postgres while Redis was down, to be made in Redis once it answers again (bounded).
  readonly #pending = new Map<string, { instance: string, ids: Set<string> }>()
  #replaying: Promise<void> | undefined

  constructor (options: IdentityMapOptions) {
    this.#options = options
    this.#local = new LocalIdentityMap(options.maxEntries)
    this.#lone = new BoundedMap({ maxEntries: options.maxEntries, sweepIntervalMs: sweepIntervalFor(options.localTtlMs) })
  }

  /** Ids held for lone deliveries in this process (at most maxEntries). */
  get localEntries (): number {
    return this.#lone.size
  }

  /** Links made in Postgres during a Redis outage and not yet made in Redis (at most maxEntries). */
  get pendingLinks (): number {
    return this.#pending.size
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
    await guard(() => redis.del(`${aliasPrefix(keyPrefix, instance)}converging:${part(canonical)}`)).catch(ignoreUnavailable)
  }

  /** Links `ids` (the first one the delivery's own) into one person and answers that person's canonical id. */
  async link (instance: string, ids: readonly string[]): Promise<IdentityLink> {
    const { redis, durable, healthy } = this.#options
    const loneKey = redis !== undefined && ids.length === 1 ? `${part(instance)}:${part(ids[0]!)}` : undefined
    // While Redis is down no change is announced: with Postgres to ask instead, a kept answer is not trusted then.
    const trusted = durable === undefined || (healthy?.() ?? true)
    const known = loneKey === undefined || !trusted ? undefined : this.#lone.get(loneKey)
    if (known !== undefined) return known
    if (redis !== undefined) {
      if (this.#pending.size > 0) await (this.#replaying ??= this.#replay().finally(() => { this.#replaying = undefined }))
      const shared = await this.#shared(redis, instance, ids, loneKey)
      if (shared !== undefined) {
        // Kept in this process too: the answer while Redis and Postgres are down.
        this.#local.link(instance, ids)
        return shared
      }
    }
    // Without Redis processes may disagree for a while; Chatwoot's contacts (found by any alias) still converge
    // them when their ids next meet in one delivery. A delivery is never failed for the map.
    return await this.#durableLink(instance, ids) ?? this.#local.link(instance, ids)
  }

  /** The link in Redis (undefined while it is down), Postgres asked for the ids Redis does not know. */
  async #shared (redis: Redis | Cluster, instance: string, ids: readonly string[], loneKey: string | undefined): Promise<IdentityLink | undefined> {
    const { keyPrefix, guard, durable } = this.#options
    // A link of several ids may change what any of them answers alone, even when another process made the change.
    if (loneKey === undefined) this.#forgetIds(instance, ids)
    const generation = this.#generation
    let linked = ids
    let restored = false
    let answer = await guard(() => linkInRedis(redis, keyPrefix, instance, ids, durable === undefined ? 'link' : 'ask')).catch(ignoreUnavailable)
    if (answer !== undefined && 'unknown' in answer) {
      // Ids Redis does not know (never linked, or lost with its data): asked of Postgres, then known to Redis.
      const found = await durable!.canonicals(instance, answer.unknown).catch(ignoreUnavailable)
      if (found !== undefined) {
        const canonicals = new Set([...found.values()].map(unpart))
        linked = [...new Set([...ids, ...canonicals])]
        // Every id was Postgres's, all of one group: Redis is only given back what Postgres holds (nothing to write there).
        restored = answer.unknown.length === ids.length && canonicals.size === 1 && ids.every((id) => found.has(part(id)) || canonicals.has(id))
      }
      answer = await guard(() => linkInRedis(redis, keyPrefix, instance, linked, found === undefined ? 'link' : 'mark')).catch(ignoreUnavailable)
    }
    if (answer === undefined || 'unknown' in answer) return undefined
    let { link } = answer
    if (answer.changed) {
      if (!restored) link = await this.#mirror(redis, instance, linked, link)
      this.#forgetLone()
      await this.#options.announce(linksChangedKey(instance)).catch(ignoreUnavailable)
    } else if (loneKey !== undefined && !link.converging && generation === this.#generation) {
      this.#lone.set(loneKey, link, this.#options.localTtlMs)
    }
    return link
  }

  /** Writes a link that changed Redis's map to Postgres too; if Postgres knew a smaller id for the person, Redis learns it. */
  async #mirror (redis: Redis | Cluster, instance: string, ids: readonly string[], link: IdentityLink): Promise<IdentityLink> {
    const { durable, keyPrefix, guard } = this.#options
    if (durable === undefined) return link
    // Lost when Postgres fails now: Redis still has the link, and the next change of the person writes the group again.
    const written = await durable.link(instance, [...new Set([...ids, link.canonical])].map(part)).catch(ignoreUnavailable)
    if (written === undefined || unpart(written.canonical) === link.canonical) return link
    const again = await guard(() => linkInRedis(redis, keyPrefix, instance, [link.canonical, unpart(written.canonical)], 'link')).catch(ignoreUnavailable)
    if (again === undefined || 'unknown' in again) return link
    return { ...again.link, joined: [...new Set([...link.joined, ...again.link.joined])] }
  }

  /** The link in Postgres while Redis is down or absent; undefined without Postgres or while it is down too. */
  async #durableLink (instance: string, ids: readonly string[]): Promise<IdentityLink | undefined> {
    const { durable, redis } = this.#options
    if (durable === undefined) return undefined
    const escaped = ids.map(part)
    let canonical: string
    let joined: string[] = []
    if (ids.length === 1) {
      const found = await durable.canonicals(instance, escaped).catch(ignoreUnavailable)
      if (found === undefined) return undefined
      canonical = unpart(found.get(escaped[0]!) ?? escaped[0]!)
    } else {
      const written = await durable.link(instance, escaped).catch(ignoreUnavailable)
      if (written === undefined) return undefined
      canonical = unpart(written.canonical)
      joined = written.joined.map(unpart)
      if (written.changed && redis !== undefined) this.#remember(instance, ids, canonical)
    }
    // Converging marks stay in this process: while Redis is down every cache is this process's own, and this
    // map learning the person (groups it held apart now joined) is what makes a conversation it cached stale.
    const local = this.#local.link(instance, ids.includes(canonical) ? ids : [...ids, canonical])
    const converging = joined.length > 0 || local.joined.length > 0 || this.#local.isConverging(instance, canonical)
    if (converging) this.#local.mark(instance, canonical)
    return { canonical, joined, converging }
  }

  #remember (instance: string, ids: readonly string[], canonical: string): void {
    const key = `${part(instance)}:${part(canonical)}`
    const entry = this.#pending.get(key) ?? { instance, ids: new Set([canonical]) }
    for (const id of ids) entry.ids.add(id)
    this.#pending.delete(key)
    this.#pending.set(key, entry)
    // Past the bound the oldest go: those ids are linked in Redis again when they next meet in one delivery.
    while (this.#pending.size > this.#options.maxEntries) this.#pending.delete(this.#pending.keys().next().value!)
  }

  /**
   * Makes in Redis the links made in Postgres while it was down: Redis kept its map through the outage, so
   * without this it would answer the ids apart (and their old cached conversations) until they meet again.
   */
  async #replay (): Promise<void> {
    const { redis } = this.#options
    for (const [key, { instance, ids }] of this.#pending) {
      if (await this.#shared(redis!, instance, [...ids], undefined) === undefined) return
      this.#pending.delete(key)
    }
  }
}

function ignoreUnavailable (error: unknown): undefined {
  if (error instanceof StoreUnavailableError) return undefined
  throw error
}
