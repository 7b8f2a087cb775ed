// Chatwoot sends each webhook once: one lost while the gateway was down (or refused, or timed out) is an
// agent's reply the customer never gets. The sweep lists what Chatwoot holds above the watermark and
// enqueues every reply that the route would have taken; the outbox's unique key (the message id) makes
// the ones already taken a no-op, so "never recorded" needs no bookkeeping of its own.
import type { ChatwootClient } from '../client/client.js'
import type { Conversation, Message } from '../client/types.js'
import type { ResolvedInstance } from '../instances/config.js'
import type { KindEntry } from '../outbox/kinds.js'
import { classify, type IsEcho, type WebhookMessage } from './events.js'
import { replyEntry } from './reply-kind.js'
import type { Mark } from './watermark.js'

export interface SweepDeps {
  instance: (name: string) => Promise<ResolvedInstance>
  client: (name: string) => Promise<ChatwootClient>
  enqueue: (instance: string, entry: KindEntry) => Promise<{ existing: boolean }>
  isEcho: IsEcho
  /** Younger messages are left to their webhook, and the mark stays below them. */
  graceMs: number
  now?: () => number
}

export interface SweepResult {
  mark: Mark
  /** Replies enqueued by this sweep: their webhooks never came. */
  enqueued: number
  conversations: number
}

// REST answers carry message_type as an integer; the handler gets the webhook's names (CONTRACT.md).
const MESSAGE_TYPES = ['incoming', 'outgoing', 'activity', 'template']
// Chatwoot's clocks: last_activity_at and created_at are set in Ruby, so they can be a little out of order.
const OVERLAP_S = 120
// 25 conversations a page: a sweep looks at 1000 active conversations at most.
const MAX_PAGES = 40
// Chatwoot's smallest message page: a shorter one is the last.
const MESSAGE_PAGE = 20
// The channel already reported these: the reply went out.
const DONE = new Set(['delivered', 'read'])

/** A message as its webhook would have carried it (the handler sees one shape, whichever way it came). */
export function asWebhookMessage (message: Message, conversation: Conversation, accountId: number): WebhookMessage {
  const { messages: _last, ...rest } = conversation
  return {
    ...message,
    event: 'message_created',
    message_type: MESSAGE_TYPES[message.message_type] ?? String(message.message_type),
    account: { id: accountId },
    inbox: { id: message.inbox_id },
    conversation: rest
  }
}

async function activeConversations (client: ChatwootClient, inboxId: number, since: number | undefined): Promise<Conversation[]> {
  const active: Conversation[] = []
  for (let page = 1; page <= MAX_PAGES; page++) {
    const { payload } = (await client.listConversations({ status: 'all', inbox_id: inboxId, page })).data
    // Newest activity first: the first that is older than the mark ends the list.
    for (const conversation of payload) {
      if (since !== undefined && conversation.last_activity_at < since) return active
      active.push(conversation)
    }
    if (since === undefined || payload.length === 0) return active
  }
  return active
}

async function messagesAfter (client: ChatwootClient, conversationId: number, after: number): Promise<Message[]> {
  const all: Message[] = []
  for (let from = after; ;) {
    const { payload } = await client.listMessages(conversationId, { after: from })
    all.push(...payload)
    const last = Math.max(from, ...payload.map((message) => message.id))
    if (payload.length < MESSAGE_PAGE || last === from) return all
    from = last
  }
}

/** The first mark: the newest message the inbox shows now. Nothing older is ever sent by the sweep. */
async function firstMark (client: ChatwootClient, inboxId: number, nowS: number): Promise<Mark> {
  const [newest] = await activeConversations(client, inboxId, undefined)
  if (newest === undefined) return { messageId: 0, activityAt: nowS }
  const { payload } = await client.listMessages(newest.id)
  return { messageId: Math.max(0, ...payload.map((message) => message.id)), activityAt: newest.last_activity_at }
}

/** One sweep of one instance from `mark` (null: the first, which only sets the mark). */
export async function sweep (deps: SweepDeps, name: string, mark: Mark | null): Promise<SweepResult> {
  const settings = await deps.instance(name)
  const client = await deps.client(name)
  const { inboxId, accountId } = settings.chatwoot
  const nowS = (deps.now?.() ?? Date.now()) / 1000
  if (mark === null) return { mark: await firstMark(client, inboxId, Math.floor(nowS)), enqueued: 0, conversations: 0 }

  const conversations = await activeConversations(client, inboxId, mark.activityAt - OVERLAP_S)
  let enqueued = 0
  let done = mark
  let young: Mark | undefined
  for (const conversation of conversations) {
    for (const message of await messagesAfter(client, conversation.id, mark.messageId)) {
      if (nowS - message.created_at < deps.graceMs / 1000) {
        // Its webhook may still come, or its row be followed by one committed late: the mark waits below it.
        if (young === undefined || message.id <= young.messageId) young = { messageId: message.id - 1, activityAt: message.created_at }
        continue
      }
      if (message.id > done.messageId) done = { messageId: message.id, activityAt: Math.max(done.activityAt, message.created_at) }
      if (typeof message.status === 'string' && DONE.has(message.status)) continue
      const action = classify(asWebhookMessage(message, conversation, accountId) as unknown as Record<string, unknown>, deps.isEcho)
      if (action.action !== 'agent-message') continue
      try {
        const stored = await deps.enqueue(name, replyEntry({ accountId, conversationId: conversation.id, message: action.message }))
        if (!stored.existing) enqueued++
      } catch (error) {
        // Stored already from its webhook's body: the same reply.
        if ((error as { code?: unknown }).code !== 'FST_CHATWOOT_OUTBOX_CONFLICT') throw error
      }
    }
  }
  const next = young === undefined || young.messageId >= done.messageId ? done : { messageId: young.messageId, activityAt: Math.min(done.activityAt, young.activityAt) }
  return { mark: next.messageId < mark.messageId ? mark : next, enqueued, conversations: conversations.length }
}
