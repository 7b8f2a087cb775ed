import { createHash } from 'node:crypto'
import { BoundedMap, DEFAULT_MAX_ENTRIES } from '../bounded-map.js'
import type { ChatwootClient } from '../client/client.js'
import { ChatwootError } from '../client/errors.js'
import type { ChatwootSettings } from '../instances/config.js'

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
      const reading = this.#read(settings, client).then((identifier) => digest(settings.url, identifier))
      // A failed read is not kept: the next delivery asks again. Keys made without the identity would
      // miss every cached conversation until it was read.
      reading.catch(() => {
        if (this.#known.peek(key) === reading) this.#known.delete(key)
      })
      this.#known.set(key, reading)
      known = reading
    }
    return known
  }

  async #read (settings: ChatwootSettings, client: ChatwootClient): Promise<string> {
    try {
      const { payload } = await client.listInboxes()
      const identifier = payload.find((candidate) => candidate.id === settings.inboxId)?.inbox_identifier
      // Only API inboxes have one; others are told apart by URL, account and inbox id alone.
      return typeof identifier === 'string' ? identifier : ''
    } catch (error) {
      // A bot token may not list inboxes: keyed by URL, account and inbox alone, the sender check still guards.
      if (error instanceof ChatwootError && error.code === 'FST_CHATWOOT_UNAUTHORIZED') return ''
      // Chatwoot down or the URL wrong: this delivery fails with Chatwoot's own coded error.
      throw error
    }
  }
}

/** The digest in cache and lock keys for a Chatwoot at `url` whose inbox has `inboxIdentifier` ('' when it has none or it cannot be read). */
export function digest (url: string, inboxIdentifier: string): string {
  return createHash('sha256').update(`${url}\u0000${inboxIdentifier}`).digest('base64url').slice(0, 12)
}
