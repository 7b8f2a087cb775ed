import type { Message } from './types.js'

/** One page of a conversation's messages as Chatwoot answers `GET .../messages?before=&after=`. */
export type MessagePage = (conversationId: number, page: { before?: number, after?: number }) => Promise<Message[]>

// Pages of 20 read backwards at most, looking for a message older than the first attempt: a conversation
// takes at most 200 messages a minute (Chatwoot's limit), so ten pages reach past the look-back.
const MAX_PAGES_BACK = 10
// Chatwoot's created_at has whole seconds, and clocks differ a little: look a minute further back.
const LOOK_BACK_SECONDS = 60
// `before` and `after` together answer every message with after <= id < before, up to 1000.
const RANGE_LIMIT = 1000
const LAST_ID = 2_147_483_647

/**
 * The default duplicate check: the message with `sourceId` stored since `sentAt`, or undefined.
 *
 * Chatwoot orders a conversation's messages by `created_at` (set in Ruby before the insert) but pages them
 * by id, so under concurrent posts ids and times can be inverted and plain backward paging by the first
 * id of each page can step over a message. So: read the latest page; if it does not reach back before the
 * first attempt, page back only to find ANY message older than the look-back (its id is lower than that of
 * every message stored after it), then read every message from that id on in one range query.
 */
export async function findRecent (page: MessagePage, conversationId: number, sourceId: string, sentAt: number): Promise<Message | undefined> {
  const oldest = Math.floor(sentAt / 1000) - LOOK_BACK_SECONDS
  let messages = await page(conversationId, {})
  const match = (list: Message[]) => list.find((message) => message.source_id === sourceId)
  const latest = match(messages)
  // The latest page holds the 20 newest by created_at: when its oldest is before the look-back, every
  // message stored since the first attempt is on it. A short page is the whole conversation.
  if (latest !== undefined || messages.length < 20 || oldestTime(messages) < oldest) return latest
  for (let pages = 1; pages < MAX_PAGES_BACK; pages++) {
    messages = await page(conversationId, { before: lowestId(messages) })
    const found = match(messages)
    if (found !== undefined) return found
    const older = messages.find((message) => message.created_at < oldest)
    if (older !== undefined) return match(await everythingFrom(page, conversationId, older.id))
    // The start of a conversation younger than the look-back: read it whole (ids may be inverted).
    if (messages.length < 20) return match(await everythingFrom(page, conversationId, 0))
  }
  // Still no message older than the look-back: read from the lowest id seen, the best bound there is.
  return match(await everythingFrom(page, conversationId, lowestId(messages)))
}

async function everythingFrom (page: MessagePage, conversationId: number, fromId: number): Promise<Message[]> {
  const seen: Message[] = []
  let after = fromId
  // A conversation cannot take a thousand messages in a minute, but a busy install could in an hour.
  for (;;) {
    const batch = await page(conversationId, { after, before: LAST_ID })
    seen.push(...batch)
    if (batch.length < RANGE_LIMIT) return seen
    after = Math.max(...batch.map((message) => message.id)) + 1
  }
}

function oldestTime (messages: Message[]): number {
  let oldest = Infinity
  for (const message of messages) if (message.created_at < oldest) oldest = message.created_at
  return oldest
}

function lowestId (messages: Message[]): number {
  let lowest = Infinity
  for (const message of messages) if (message.id < lowest) lowest = message.id
  return lowest
}
