/** Ids are stored URI-escaped (in Redis, Postgres and here), so ':' separates an instance from an id unambiguously. */
export const part = (value: string) => encodeURIComponent(value)
export const unpart = (value: string) => decodeURIComponent(value)

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

  /** Marks a person's late mapping unconverged in this process (one learnt from Postgres while Redis is down). */
  mark (instance: string, canonical: string): void {
    this.#converging.add(`${part(instance)}:${part(canonical)}`)
  }

  isConverging (instance: string, canonical: string): boolean {
    return this.#converging.has(`${part(instance)}:${part(canonical)}`)
  }

  settle (instance: string, canonical: string): void {
    this.#converging.delete(`${part(instance)}:${part(canonical)}`)
  }
}
