// Keys per (instance, Chatwoot database, account, inbox, contact key), each part escaped so no contact
// key can reach another's entry. The braces are a Redis Cluster hash tag: every key of one conversation
// (id, lock, claims) hashes to one slot, so a Lua script may touch them together.

// encodeURIComponent escapes ':', '{' and '}', so a part can neither end the tag nor pose as another part.
const part = (value: string | number) => encodeURIComponent(String(value))

export interface ConversationKeys {
  /** The instance the keys belong to (for events and logs; the keys hold it escaped). */
  instance: string
  conversation: string
  lock: string
  claim (sourceId: string): string
}

/**
 * `chatwoot` is the digest of the Chatwoot database (see ChatwootIdentity), so ids cached for one are never
 * used on another; empty, the tag has one part less (escaped parts hold no ':', so the two forms cannot meet).
 */
export function conversationKeys (prefix: string, instance: string, accountId: number, inboxId: number, contactKey: string,
  chatwoot = ''): ConversationKeys {
  const database = chatwoot === '' ? '' : `${part(chatwoot)}:`
  const tag = `{${part(instance)}:${database}${accountId}:${inboxId}:${part(contactKey)}}`
  return {
    instance,
    conversation: `${prefix}${tag}:conversation`,
    lock: `${prefix}${tag}:lock`,
    claim: (sourceId) => `${prefix}${tag}:claim:${part(sourceId)}`
  }
}
