import type { FastifyInstance } from 'fastify'
import { notFound } from '../answers.js'
import type { SimulatorContext } from '../context.js'
import { findInbox } from '../data/accounts.js'
import { findContact } from '../data/contacts.js'
import { findConversation } from '../data/conversations.js'
import { listMessages, type NewAttachment } from '../data/messages.js'
import { transaction } from '../data/sql.js'
import { buildMessage } from '../message-builder.js'
import { id, type Params, present, text } from '../params.js'
import { presentMessages } from '../present.js'
import { contactSender, unix } from '../views.js'

/** The parsed body of a message create; multipart files arrive as `attachments`. */
export interface MessageBody extends Params {
  attachments?: NewAttachment[]
}

export async function messageRoutes (app: FastifyInstance, { context }: { context: SimulatorContext }) {
  const { pool } = context
  const displayIdOf = (request: { params: unknown }) => id((request.params as Params).conversation_id)

  app.post('/conversations/:conversation_id/messages', { config: { bots: true } }, async (request) => {
    const body = request.body as MessageBody
    const attachments = Array.isArray(body.attachments) ? body.attachments.filter((file) => Buffer.isBuffer(file?.data)) : []
    return transaction(pool, async (client) => {
      // Locking the conversation serialises its messages, so the per-minute limit and the ids' order are exact.
      const conversation = await findConversation(client, request.accountId, displayIdOf(request), { forUpdate: true })
      if (conversation === undefined) throw notFound()
      const inbox = await findInbox(client, request.accountId, conversation.inbox_id)
      if (inbox === undefined) throw notFound()
      const built = await buildMessage(client, {
        conversation, inbox, principal: request.principal, params: body, attachments, messagesPerMinute: context.messagesPerMinute
      })
      const contact = await findContact(client, request.accountId, Number(conversation.contact_id)) ?? null
      const [view] = await presentMessages(client, [built.message], conversation, contact, context.baseUrl(),
        text(body.echo_id))
      return view
    })
  })

  app.get('/conversations/:conversation_id/messages', async (request) => {
    const query = request.query as Params
    const conversation = await findConversation(pool, request.accountId, displayIdOf(request))
    if (conversation === undefined) throw notFound()
    const contact = await findContact(pool, request.accountId, Number(conversation.contact_id)) ?? null
    const messages = await listMessages(pool, conversation.id,
      present(query.before) === undefined ? undefined : id(query.before) ?? 0,
      present(query.after) === undefined ? undefined : id(query.after) ?? 0)
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
}
