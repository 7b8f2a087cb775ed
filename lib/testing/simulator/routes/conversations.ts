import type { FastifyInstance } from 'fastify'
import { couldNotCreate, internalServerError, notFound, recordInvalid } from '../answers.js'
import type { SimulatorContext } from '../context.js'
import { findInbox, INBOX_WITH_BOT, type InboxRow } from '../data/accounts.js'
import { ensureContactInbox, findContact, SourceIdTakenError } from '../data/contacts.js'
import {
  buildConversation, findConversation, listConversations, setConversationStatus
} from '../data/conversations.js'
import { one, type Queryable, transaction } from '../data/sql.js'
import { buildMessage, MessageRefused } from '../message-builder.js'
import { id, page, type Params, present, record, text } from '../params.js'
import { presentConversation, presentConversations } from '../present.js'
import { CONVERSATION_STATUSES } from '../views.js'

const OPEN = 0
const RESOLVED = 1
const PENDING = 2
const SNOOZED = 3

// Conversation#status is a Rails enum that Chatwoot does not rescue: a bad value is a 500 there.
function statusValue (raw: unknown): number | undefined {
  if (present(raw) === undefined) return undefined
  const status = CONVERSATION_STATUSES.indexOf(text(raw) as typeof CONVERSATION_STATUSES[number])
  if (status === -1) throw internalServerError()
  return status
}

async function contactInboxBySource (db: Queryable, accountId: number, sourceId: string | undefined) {
  if (sourceId === undefined) return undefined
  return one<{ id: string, contact_id: string, inbox: InboxRow }>(db,
    `SELECT ci.id, ci.contact_id, ${INBOX_WITH_BOT} AS inbox FROM contact_inboxes ci JOIN inboxes i ON i.id = ci.inbox_id
      WHERE ci.source_id = $1 AND i.account_id = $2 ORDER BY ci.id LIMIT 1`, [sourceId, accountId])
}

export async function conversationRoutes (app: FastifyInstance, { context }: { context: SimulatorContext }) {
  const { pool } = context
  const displayIdOf = (request: { params: unknown }) => id((request.params as Params).conversation_id)

  app.post('/conversations', { config: { bots: true } }, async (request) => {
    const body = request.body as Params
    // set_contact_inbox is a before_action: its contact_inbox is committed whatever happens next.
    const { contact, inbox, contactInboxId } = await transaction(pool, (client) => contactInboxFor(client, request.accountId, body))
    return transaction(pool, async (client) => {
      const status = statusValue(body.status)
      const conversation = await buildConversation(client, {
        accountId: request.accountId,
        inbox,
        contactId: contact.id,
        contactInboxId,
        // determine_conversation_status overrides what was asked: blocked contacts resolved, bot inboxes pending.
        status: contact.blocked ? RESOLVED : inbox.active_bot === true ? PENDING : status ?? OPEN,
        assigneeId: id(body.assignee_id),
        teamId: id(body.team_id),
        additionalAttributes: record(body.additional_attributes),
        customAttributes: record(body.custom_attributes)
      })
      const message = record(body.message)
      if (message !== undefined && Object.keys(message).length > 0) {
        const locked = await findConversation(client, request.accountId, conversation.display_id, { forUpdate: true })
        await buildMessage(client, {
          conversation: locked!,
          inbox,
          contact,
          principal: request.principal,
          params: message,
          attachments: [],
          messagesPerMinute: context.messagesPerMinute
        }).catch((error: unknown) => {
          // Only a RecordInvalid is rescued here (422 {message, attributes}); any other exception is Rails' 500.
          if (error instanceof MessageRefused) throw error.failures === undefined ? internalServerError() : recordInvalid(error.failures)
          throw error
        })
      } else if (present(body.message) !== undefined) {
        throw internalServerError()
      }
      const fresh = await findConversation(client, request.accountId, conversation.display_id)
      return presentConversation(client, fresh!, context.baseUrl())
    })
  })

  app.get('/conversations', async (request) => {
    const query = request.query as Params
    const status = text(query.status)
    const result = await listConversations(pool, request.accountId, {
      // Chatwoot lists open conversations unless told otherwise; "all" lifts the filter.
      status: status === 'all' ? undefined : statusValue(status ?? 'open'),
      inboxId: present(query.inbox_id) === undefined ? undefined : id(query.inbox_id) ?? 0,
      sourceId: present(query.source_id),
      page: page(query.page),
      userId: request.principal.id
    })
    return {
      data: {
        meta: result.counts,
        payload: await presentConversations(pool, result.conversations, context.baseUrl())
      }
    }
  })

  app.get('/conversations/:conversation_id', async (request) => {
    const conversation = await findConversation(pool, request.accountId, displayIdOf(request))
    if (conversation === undefined) throw notFound()
    return presentConversation(pool, conversation, context.baseUrl())
  })

  app.post('/conversations/:conversation_id/toggle_status', { config: { bots: true } }, async (request) => {
    const body = (request.body ?? {}) as Params
    return transaction(pool, async (client) => {
      const conversation = await findConversation(client, request.accountId, displayIdOf(request), { forUpdate: true })
      if (conversation === undefined) throw notFound()
      const requested = statusValue(body.status)
      // A bot handing a pending conversation over: Chatwoot's bot_handoff! returns nothing, so `success` is null.
      const handoff = request.principal.type === 'AgentBot' && conversation.status === PENDING && requested === OPEN
      // Without a status Chatwoot flips between open and resolved.
      const status = requested ?? (conversation.status === OPEN ? RESOLVED : OPEN)
      const until = status === SNOOZED ? snoozedUntil(body.snoozed_until) : null
      const updated = await setConversationStatus(client, conversation.id, status, until)
      return {
        meta: {},
        payload: {
          success: handoff ? null : true,
          conversation_id: updated.display_id,
          current_status: CONVERSATION_STATUSES[updated.status],
          // A Rails time in JSON: ISO 8601 with milliseconds, not the unix integer other views use.
          snoozed_until: until === null ? null : until.toISOString()
        }
      }
    })
  })

  app.delete('/conversations/:conversation_id', { config: { administrators: true } }, async (request, reply) => {
    const conversation = await findConversation(pool, request.accountId, displayIdOf(request))
    if (conversation === undefined) throw notFound()
    await context.deletes.enqueue(request.accountId, conversation.display_id)
    // Chatwoot answers `head :ok` (a 200 with an empty body) before its job deletes anything.
    return reply.code(200).send()
  })
}

function snoozedUntil (raw: unknown): Date | null {
  const seconds = Number(text(raw))
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000) : null
}

/** ContactInboxBuilder with contact_id and inbox_id, else ContactInbox.find_by!(source_id:). */
async function contactInboxFor (db: Queryable, accountId: number, body: Params) {
  const sourceId = present(body.source_id)
  if (present(body.contact_id) !== undefined && present(body.inbox_id) !== undefined) {
    const contact = await findContact(db, accountId, id(body.contact_id))
    const inbox = await findInbox(db, accountId, id(body.inbox_id))
    if (contact === undefined || inbox === undefined) throw notFound()
    try {
      return { contact, inbox, contactInboxId: (await ensureContactInbox(db, contact, inbox, sourceId)).id }
    } catch (error) {
      if (error instanceof SourceIdTakenError) throw couldNotCreate('source_id should be unique')
      throw error
    }
  }
  const contactInbox = await contactInboxBySource(db, accountId, sourceId)
  if (contactInbox === undefined) throw notFound()
  const contact = await findContact(db, accountId, Number(contactInbox.contact_id))
  if (contact === undefined) throw notFound()
  return { contact, inbox: contactInbox.inbox, contactInboxId: Number(contactInbox.id) }
}
