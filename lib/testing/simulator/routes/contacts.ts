import type { FastifyInstance, FastifyRequest } from 'fastify'
import { couldNotCreate, internalServerError, notFound, recordInvalid } from '../answers.js'
import type { SimulatorContext } from '../context.js'
import { findInbox } from '../data/accounts.js'
import { filterConditions, filterContacts } from '../data/contact-filter.js'
import {
  type ContactPage, contactInboxesOf, contactValidationFailures, ensureContactInbox, findContact, insertContact, type NewContact,
  SourceIdTakenError, searchContacts, updateContact, updatedContact
} from '../data/contacts.js'
import { contactConversations } from '../data/conversations.js'
import { isUniqueViolation, transaction } from '../data/sql.js'
import { flag, id, page, type Params, present, record, text } from '../params.js'
import { presentConversations } from '../present.js'
import { contactInboxView, contactView } from '../views.js'

/** The contact fields Chatwoot permits, as create and update read them. */
function contactParams (body: Params): NewContact {
  return {
    name: text(body.name),
    email: present(body.email)?.trim(),
    phone_number: present(body.phone_number)?.trim(),
    identifier: present(body.identifier),
    blocked: flag(body.blocked),
    additional_attributes: record(body.additional_attributes),
    custom_attributes: record(body.custom_attributes)
  }
}

export async function contactRoutes (app: FastifyInstance, { context }: { context: SimulatorContext }) {
  const { pool } = context

  const answerPage = async (result: ContactPage, currentPage: number) => {
    const contactInboxes = await contactInboxesOf(pool, result.contacts.map((contact) => contact.id))
    return {
      meta: { count: result.count, current_page: currentPage },
      payload: result.contacts.map((contact) => contactView(contact, contactInboxes.get(contact.id) ?? []))
    }
  }

  app.get('/contacts/search', async (request) => {
    const query = request.query as Params
    const q = present(query.q)
    if (q === undefined) throw couldNotCreate('Specify search string with parameter q')
    const currentPage = page(query.page)
    return answerPage(await searchContacts(pool, request.accountId, q, currentPage, text(query.sort)), currentPage)
  })

  app.post('/contacts/filter', async (request) => {
    const conditions = filterConditions((request.body as Params).payload)
    const currentPage = page((request.query as Params).page)
    return answerPage(await filterContacts(pool, request.accountId, conditions, currentPage), currentPage)
  })

  app.post('/contacts', async (request) => {
    const body = request.body as Params
    const contact = contactParams(body)
    const inboxParam = body.inbox_id
    try {
      return await transaction(pool, async (client) => {
        const failures = await contactValidationFailures(client, request.accountId, contact)
        if (failures.length > 0) throw recordInvalid(failures)
        const row = await insertContact(client, request.accountId, contact)
        let contactInbox = null
        if (present(inboxParam) !== undefined) {
          const inbox = await findInbox(client, request.accountId, id(inboxParam))
          if (inbox === undefined) throw notFound()
          const created = await ensureContactInbox(client, row, inbox, present(body.source_id))
          contactInbox = { source_id: created.source_id, inbox }
        }
        const contactInboxes = await contactInboxesOf(client, [row.id])
        return {
          payload: {
            contact: contactView(row, contactInboxes.get(row.id) ?? []),
            contact_inbox: contactInbox === null ? { inbox: null, source_id: null } : contactInboxView(contactInbox)
          }
        }
      })
    } catch (error) {
      // Chatwoot does not rescue these: a unique-index race or a taken source_id is a 500 there.
      if (isUniqueViolation(error) || error instanceof SourceIdTakenError) throw internalServerError()
      throw error
    }
  })

  // Rails routes both PUT and PATCH to ContactsController#update.
  const update = async (request: FastifyRequest) => {
    const body = (request.body ?? {}) as Params
    const given = contactParams(body)
    // Only the keys the request holds are assigned (Rails' permit drops the others).
    const patch = Object.fromEntries(Object.entries(given).filter(([key]) => key in body)) as NewContact
    try {
      return await transaction(pool, async (client) => {
        const row = await findContact(client, request.accountId, id((request.params as Params).contact_id))
        if (row === undefined) throw notFound()
        const contact = updatedContact(row, patch)
        const failures = await contactValidationFailures(client, request.accountId, contact, row.id)
        if (failures.length > 0) throw recordInvalid(failures)
        const updated = await updateContact(client, row.id, contact)
        const contactInboxes = await contactInboxesOf(client, [row.id])
        return { payload: contactView(updated, contactInboxes.get(row.id) ?? []) }
      })
    } catch (error) {
      // A unique-index race (two updates to one identifier or email): unrescued in Chatwoot, a 500.
      if (isUniqueViolation(error)) throw internalServerError()
      throw error
    }
  }
  app.put('/contacts/:contact_id', update)
  app.patch('/contacts/:contact_id', update)

  app.get('/contacts/:contact_id/conversations', async (request) => {
    const contact = await findContact(pool, request.accountId, id((request.params as Params).contact_id))
    if (contact === undefined) throw notFound()
    const conversations = await contactConversations(pool, request.accountId, contact.id)
    return { payload: await presentConversations(pool, conversations, context.baseUrl()) }
  })

  app.post('/contacts/:contact_id/contact_inboxes', async (request) => {
    const body = request.body as Params
    return transaction(pool, async (client) => {
      const contact = await findContact(client, request.accountId, id((request.params as Params).contact_id))
      if (contact === undefined) throw notFound()
      // A missing inbox_id is looked up all the same, and found nowhere.
      const inbox = await findInbox(client, request.accountId, id(body.inbox_id))
      if (inbox === undefined) throw notFound()
      try {
        const created = await ensureContactInbox(client, contact, inbox, present(body.source_id), { renames: true })
        return contactInboxView({ source_id: created.source_id, inbox })
      } catch (error) {
        // An unhandled unique violation in Chatwoot: a 500 that no retry can cure.
        if (error instanceof SourceIdTakenError) throw internalServerError()
        throw error
      }
    })
  })
}
