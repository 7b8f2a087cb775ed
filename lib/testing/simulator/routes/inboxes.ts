import type { FastifyInstance } from 'fastify'
import type { SimulatorContext } from '../context.js'
import { listInboxes } from '../data/accounts.js'
import { inboxView } from '../views.js'

export async function inboxRoutes (app: FastifyInstance, { context }: { context: SimulatorContext }) {
  app.get('/inboxes', async (request) => {
    return { payload: (await listInboxes(context.pool, request.accountId)).map((inbox) => inboxView(inbox)) }
  })
}
