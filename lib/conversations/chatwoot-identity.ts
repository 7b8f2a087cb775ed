import { createHash } from 'node:crypto'
import { BoundedMap, DEFAULT_MAX_ENTRIES } from '../bounded-map.js'
import type { ChatwootClient } from '../client/client.js'
import type { ChatwootSettings } from '../instances/config.js'

// A failed read (a bot token may not list inboxes; a network blip) is asked again after this long.
const RETRY_UNREADABLE_MS = 5 * 60_000

/**
 * Which Chatwoot database an instance's ids belong to: the origin with its path prefix, and the API
 * inbox's `inbox_identifier` (random per inbox, so a fresh database gives a fresh one, while the same
 * server re-pointed or restarted keeps its URL). Part of every cache and lock key, so ids cached for
 * one Chatwoot database are never used on another. Read once per instance settings (URL, account, inbox, token).
 */
export class ChatwootIdentity {
  readonly #known: BoundedMap<string, Promise<string>>

  constructor (maxEntries = DEFAULT_MAX_ENTRIES) {
    // Keyed by settings the host stores: bounded; a read in flight is kept by the promise holders anyway.
    this.#known = new BoundedMap({ maxEntries })
  }

  /** A short stable digest of the Chatwoot database behind `settings`. */
  of (settings: ChatwootSettings, client: ChatwootClient): Promise<string> {
    // The token is part of what is read once: a Chatwoot restarted on the same URL with a fresh database
    // has the same account and inbox ids but not the old token, so the host's new config reads the new
    // identity while the process keeps running (kept in memory only, never printed).
    const key = `${settings.url}\u0000${settings.accountId}\u0000${settings.inboxId}\u0000${settings.token}`
    let known = this.#known.get(key)
    if (known === undefined) {
      known = this.#read(settings, client).then(({ identifier, keepMs }) => {
        if (keepMs !== Infinity) this.#known.set(key, Promise.resolve(digest(settings.url, identifier)), keepMs)
        return digest(settings.url, identifier)
      })
      this.#known.set(key, known)
    }
    return known
  }

  async #read (settings: ChatwootSettings, client: ChatwootClient): Promise<{ identifier: string, keepMs: number }> {
    try {
      const { payload } = await client.listInboxes()
      const inbox = payload.find((candidate) => candidate.id === settings.inboxId)
      const identifier = inbox?.inbox_identifier
      // Only API inboxes have one; others are told apart by URL, account and inbox id alone.
      return { identifier: typeof identifier === 'string' ? identifier : '', keepMs: Infinity }
    } catch {
      // Without it deliveries go on keyed by URL, account and inbox; the answer check still guards.
      return { identifier: '', keepMs: RETRY_UNREADABLE_MS }
    }
  }
}

/** The digest in cache and lock keys for a Chatwoot at `url` whose inbox has `inboxIdentifier` ('' when it has none or it cannot be read). */
export function digest (url: string, inboxIdentifier: string): string {
  return createHash('sha256').update(`${url}\u0000${inboxIdentifier}`).digest('base64url').slice(0, 12)
}
