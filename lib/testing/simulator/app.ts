import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { ChatwootAnswer, railsError, retryLater } from './answers.js'
import { authenticate } from './auth.js'
import type { SimulatorContext } from './context.js'
import { faultAnswer, type Faults, type FaultSpec } from './faults.js'
import type { RateLimits } from './rate-limits.js'
import { parseJson, parseMultipart, JSON_BODY_LIMIT, MULTIPART_BODY_LIMIT } from './body.js'
import { actionRoutes } from './routes/actions.js'
import { contactRoutes } from './routes/contacts.js'
import { conversationRoutes } from './routes/conversations.js'
import { inboxRoutes } from './routes/inboxes.js'
import { messageRoutes } from './routes/messages.js'
import { emitWebhooks, type WebhookSender } from './webhooks.js'

export interface LoggedRequest {
  method: string
  /** The path without its query; tokens travel in a header, so none is ever here. */
  path: string
  /** The status sent, or that would have been sent when a fault dropped the answer (0 after a reset). */
  status: number
  fault?: 'status' | 'delay' | 'dropAfterCommit' | 'resetBeforeCommit'
}

declare module 'fastify' {
  interface FastifyRequest {
    fault: FaultSpec | null
    logged: boolean
  }
}

export interface AppOptions {
  context: SimulatorContext
  faults: Faults
  requests: LoggedRequest[]
  rateLimits?: RateLimits
  logger?: FastifyServerOptions['logger']
  /** Sends Chatwoot's webhooks for what the API does. */
  webhooks?: WebhookSender
}

function pathOf (url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

export function buildSimulatorApp ({ context, faults, requests, rateLimits, logger = false, webhooks }: AppOptions): FastifyInstance {
  const app = Fastify({ logger, bodyLimit: JSON_BODY_LIMIT, forceCloseConnections: true })
  app.decorateRequest('fault', null)
  app.decorateRequest('logged', false)
  app.decorateRequest('principal', null as never)
  app.decorateRequest('accountId', 0)

  const log = (request: { method: string, url: string, logged: boolean }, status: number, fault?: LoggedRequest['fault']) => {
    if (request.logged) return
    request.logged = true
    requests.push({ method: request.method, path: pathOf(request.url), status, ...(fault === undefined ? {} : { fault }) })
  }

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJson(body as string))
    } catch (error) {
      done(error as Error, undefined)
    }
  })
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: MULTIPART_BODY_LIMIT },
    (request, body, done) => {
      parseMultipart(body as Buffer, request.headers['content-type'] ?? '').then((params) => done(null, params), done)
    })

  // Faults come first, as rack-attack sits in front of Chatwoot's controllers.
  app.addHook('onRequest', async (request, reply) => {
    const fault = faults.take(request.method, pathOf(request.url))
    if (fault === undefined) return
    request.fault = fault
    if (fault.delayMs !== undefined) await sleep(fault.delayMs)
    if (fault.status !== undefined) {
      const answer = faultAnswer(fault)
      log(request, answer.statusCode, 'status')
      return reply.code(answer.statusCode).type(answer.contentType).send(answer.body)
    }
  })
  // rack-attack, behind the network faults and in front of everything else (only searches have their own limit).
  if (rateLimits?.enabled === true) {
    app.addHook('onRequest', async (request, reply) => {
      if (reply.sent || !rateLimits.throttled(request.ip, pathOf(request.url))) return
      const answer = retryLater()
      return reply.code(answer.statusCode).type(answer.contentType).send(answer.body)
    })
  }
  app.addHook('preValidation', async (request, reply) => {
    if (request.fault?.resetBeforeCommit !== true) return
    log(request, 0, 'resetBeforeCommit')
    reply.hijack()
    request.raw.socket.resetAndDestroy()
  })
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.fault?.dropAfterCommit === true) {
      log(request, reply.statusCode, 'dropAfterCommit')
      request.raw.socket.destroy()
    }
    return payload
  })
  app.addHook('onResponse', async (request, reply) => {
    log(request, reply.statusCode, request.fault?.delayMs !== undefined ? 'delay' : undefined)
  })

  if (webhooks !== undefined) emitWebhooks(app, webhooks)

  app.setNotFoundHandler((_request, reply) => {
    const answer = railsError(404)
    reply.code(404).type(answer.contentType).send(answer.body)
  })
  app.setErrorHandler((error, request, reply) => {
    let answer: ChatwootAnswer
    if (error instanceof ChatwootAnswer) {
      answer = error
    } else {
      const status = (error as { statusCode?: number }).statusCode ?? 500
      answer = railsError(status >= 400 && status < 500 ? status : 500)
      if (answer.statusCode === 500) request.log.error({ err: error }, 'simulator failure')
    }
    reply.code(answer.statusCode).type(answer.contentType).send(answer.body)
  })

  app.register(async (accounts) => {
    accounts.addHook('preHandler', authenticate(context))
    const routes = { context }
    await accounts.register(contactRoutes, routes)
    await accounts.register(conversationRoutes, routes)
    await accounts.register(messageRoutes, routes)
    await accounts.register(inboxRoutes, routes)
    await accounts.register(actionRoutes, routes)
  }, { prefix: '/api/v1/accounts/:account_id' })

  return app
}
