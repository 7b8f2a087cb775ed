import type { FastifyInstance } from 'fastify'
import { ChatwootAnswer, couldNotCreate, notFound } from '../answers.js'
import type { SimulatorContext } from '../context.js'
import { findContact } from '../data/contacts.js'
import { findConversation, lockConversation } from '../data/conversations.js'
import { findMessage, listMessages, type NewAttachment, setMessageStatus, softDeleteMessage } from '../data/messages.js'
import { transaction } from '../data/sql.js'
import { buildMessage, MessageRefused } from '../message-builder.js'
import { id, type Params, present, rubyInteger, text } from '../params.js'
import { messagePartial } from '../message-partial.js'
import { presentMessages, senderOf } from '../present.js'
import { botSender, contactSender, MESSAGE_STATUSES, unix, userSender } from '../views.js'

/** The parsed body of a message create; multipart files arrive as `attachments`. */
export interface MessageBody extends Params {
  attachments?: NewAttachment[]
}

const DELIVERED = 1
const READ = 2
const FAILED = 3

export async function messageRoutes (app: FastifyInstance, { context }: { context: SimulatorContext }) {
  const { pool } = context
  const displayIdOf = (request: { params: unknown }) => id((request.params as Params).conversation_id)

  app.post('/conversations/:conversation_id/messages', { config: { bots: true } }, async (request) => {
    const body = request.body as MessageBody
    const attachments = Array.isArray(body.attachments) ? body.attachments.filter((file) => Buffer.isBuffer(file?.data)) : []
    return transaction(pool, async (client) => {
      // Locking the conversation serialises its messages, so the per-minute limit and the ids' order are exact.
      const locked = await lockConversation(client, request.accountId, displayIdOf(request))
      if (locked === undefined) throw notFound()
      const { conversation, inbox, contact } = locked
      const { principal } = request
      const built = await buildMessage(client, {
        conversation, inbox, contact, principal, params: body, attachments, messagesPerMinute: context.messagesPerMinute
      }).catch((error: unknown) => {
        // The message action rescues every exception into a 422 with its message.
        throw error instanceof MessageRefused ? couldNotCreate(error.message) : error
      })
      // The sender is known without another query: the conversation's contact, or the caller.
      const sender = built.message.sender_type === 'Contact'
        ? (contact === null ? null : contactSender(contact))
        : principal.type === 'AgentBot' ? botSender(principal.id, principal.name) : userSender(principal.id, principal.name)
      // create.json.jbuilder renders the message partial, not push_event_data.
      return messagePartial(built.message, {
        displayId: conversation.display_id, sender, attachments: built.attachments, baseUrl: context.baseUrl(), echoId: text(body.echo_id)
      })
    })
  })

  app.get('/conversations/:conversation_id/messages', async (request) => {
    const query = request.query as Params
    const conversation = await findConversation(pool, request.accountId, displayIdOf(request))
    if (conversation === undefined) throw notFound()
    const contact = await findContact(pool, request.accountId, Number(conversation.contact_id)) ?? null
    // MessageFinder: `present?` decides whether a bound applies, `to_i` what it is ('x' is 0).
    const bound = (value: unknown) => present(value) === undefined ? undefined : rubyInteger(value)
    const messages = await listMessages(pool, conversation.id, bound(query.before), bound(query.after))
    return {
      meta: {
        labels: [],
        additional_attributes: conversation.additional_attributes ?? {},
        contact: contact === null ? null : contactSender(contact),
        assignee: null,
        agent_last_seen_at: unix(conversation.agent_last_seen_at),
        assignee_last_seen_at: null
      },
      payload: await presentMessages(pool, messages, conversation, contact, context.baseUrl())
    }
  })
  // Chatwoot's destroy is a soft delete (CONTRACT.md): the row stays, so a lookup by source_id still finds it.
  app.delete('/conversations/:conversation_id/messages/:message_id', async (request) => {
    return transaction(pool, async (client) => {
      const locked = await lockConversation(client, request.accountId, displayIdOf(request))
      if (locked === undefined) throw notFound()
      const found = await findMessage(client, locked.conversation.id, id((request.params as Params).message_id))
      if (found === undefined) throw notFound()
      const message = await softDeleteMessage(client, found.id)
      return messagePartial(message, {
        displayId: locked.conversation.display_id,
        sender: await senderOf(client, message, locked.contact),
        baseUrl: context.baseUrl(),
        status: false
      })
    })
  })

  // A delivery receipt for API inboxes. Chatwoot has no view for this action, so Rails answers 204;
  // an unknown status, or read -> delivered, is ignored without an error.
  app.patch('/conversations/:conversation_id/messages/:message_id', async (request, reply) => {
    const body = (request.body ?? {}) as Params
    await transaction(pool, async (client) => {
      const locked = await lockConversation(client, request.accountId, displayIdOf(request))
      if (locked === undefined) throw notFound()
      if (locked.inbox.channel_type !== 'Channel::Api') {
        throw new ChatwootAnswer(403, { error: 'Message status update is only allowed for API inboxes' })
      }
      const message = await findMessage(client, locked.conversation.id, id((request.params as Params).message_id))
      if (message === undefined) throw notFound()
      const status = MESSAGE_STATUSES.indexOf(text(body.status) as typeof MESSAGE_STATUSES[number])
      if (status === -1 || (message.status === READ && status === DELIVERED)) return
      await setMessageStatus(client, message.id, status, status === FAILED ? text(body.external_error) ?? null : null)
    })
    return reply.code(204).send()
  })
}
