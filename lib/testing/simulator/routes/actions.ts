import type { FastifyInstance } from 'fastify'
import { notFound } from '../answers.js'
import type { SimulatorContext } from '../context.js'
import { mergeContacts } from '../data/contact-merge.js'
import { findContact } from '../data/contacts.js'
import { transaction } from '../data/sql.js'
import { id, type Params } from '../params.js'
import { contactView } from '../views.js'

export async function actionRoutes (app: FastifyInstance, { context }: { context: SimulatorContext }) {
  app.post('/actions/contact_merge', async (request) => {
    const body = (request.body ?? {}) as Params
    return transaction(context.pool, async (client) => {
      // Both are looked up with `find` in the account: a missing or foreign id is a 404, base first.
      const base = await findContact(client, request.accountId, id(body.base_contact_id))
      if (base === undefined) throw notFound()
      const mergee = await findContact(client, request.accountId, id(body.mergee_contact_id))
      if (mergee === undefined) throw notFound()
      const merged = await mergeContacts(client, base, mergee)
      // The contact model partial, without contact_inboxes.
      const { contact_inboxes: _omitted, ...view } = contactView(merged, [])
      return view
    })
  })
}
