import fastifyMultipart from '@fastify/multipart'
import fastifyPostgres from '@fastify/postgres'
import fastifyRedis from '@fastify/redis'
import Fastify, { type FastifyServerOptions } from 'fastify'
import fastifyChatwoot, {
  type ChatwootClientPluginOptions, type ChatwootConversationsOptions, type ChatwootOutboxOptions, type ChatwootWebhooksOptions
} from 'fastify-chatwoot'
import pg from 'pg'
import { useErrorAnswers } from './errors.js'
import { instanceChangesPlugin } from './instance-changes.js'
import { instanceReader } from './instance-store.js'
import { metricsRoutes } from './metrics.js'
import { migrate } from './migrations.js'
import { ReplySender } from './reply-sender.js'
import { healthRoutes } from './routes/health.js'
import { outboxRoutes } from './routes/outbox.js'
import { instanceRoutes } from './routes/instances.js'
import { FIELD_SIZE, messageRoutes } from './routes/messages.js'
import { replyRoutes } from './routes/replies.js'

export interface GatewayOptions {
  /** The gateway's own Postgres, holding the `instances` table. */
  databaseUrl: string
  /** Redis for the shared conversation cache and locks; without it, a per-process cache. */
  redisUrl?: string
  logger?: FastifyServerOptions['logger']
  /** How long an instance row is trusted before it is read again. Default 30 s. */
  instancesTtl?: number
  client?: ChatwootClientPluginOptions
  conversations?: ChatwootConversationsOptions
  /** Largest media file accepted, in bytes. Default 40 MB (Chatwoot's own default limit). */
  maxFileSize?: number
  /**
   * The durable outbox (`?queue=1` on the message routes, the /outbox routes), on the gateway's database.
   * `false` leaves it out. Default: on, with the library's defaults.
   */
  outbox?: Omit<ChatwootOutboxOptions, 'pool' | 'connectionString'> | false
  /**
   * Connections of the outbox's own pool. Default 8. Embedded PGlite wants 1: its socket server
   * interleaves concurrent parametrised queries of several connections.
   */
  outboxPoolMax?: number
  /**
   * Chatwoot's webhooks (`POST /chatwoot/webhooks/:instance`, for instances given a `webhookSecret`): the
   * agents' replies go to the stand-in WhatsApp sender (reply-sender.ts; `GET /replies`). `false` leaves
   * them out. Default: on, with the library's defaults (Redis keys under the conversations' keyPrefix).
   */
  webhooks?: Omit<ChatwootWebhooksOptions, 'onAgentMessage'> | false
}

export async function buildGateway (options: GatewayOptions) {
  const { databaseUrl, redisUrl, logger = false, instancesTtl, client = {}, conversations = {}, maxFileSize = 40 * 1024 * 1024, outbox = {}, outboxPoolMax = 8, webhooks = {} } = options
  const app = Fastify({
    logger,
    // Multipart bodies are limited per file below; JSON bodies hold at most one message.
    bodyLimit: 1024 * 1024,
    // A gateway refuses a wrong type rather than storing `true` as a message: no coercion.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } }
  })
  useErrorAnswers(app)

  await app.register(fastifyPostgres, { connectionString: databaseUrl, max: 10, application_name: 'gateway' })
  await migrate(app.pg)
  if (redisUrl !== undefined) {
    await app.register(fastifyRedis, { url: redisUrl, lazyConnect: false })
  }
  await app.register(fastifyMultipart, { limits: { fileSize: maxFileSize, fields: 10, fieldSize: FIELD_SIZE } })

  // The outbox's own pool, so its workers never wait behind (or starve) the routes' connections.
  const outboxPool = outbox === false ? undefined : new pg.Pool({ connectionString: databaseUrl, max: outboxPoolMax, application_name: 'gateway-outbox' })
  // Root onClose hooks run after the plugins' own: the workers have stopped when the pool ends.
  if (outboxPool !== undefined) app.addHook('onClose', async () => { await outboxPool.end() })

  const keyPrefix = conversations.keyPrefix ?? 'fcw:'
  const sender = webhooks === false ? undefined : new ReplySender(app.pg, app.log)
  await app.register(fastifyChatwoot, {
    instances: { resolve: instanceReader(app.pg), ...(instancesTtl === undefined ? {} : { ttlMs: instancesTtl }) },
    client,
    conversations,
    ...(outboxPool === undefined ? {} : { outbox: { ...(outbox as ChatwootOutboxOptions), pool: outboxPool } }),
    ...(sender === undefined ? {} : { webhooks: { keyPrefix, ...(webhooks as ChatwootWebhooksOptions), onAgentMessage: sender.send } })
  })

  await app.register(instanceChangesPlugin, { channel: `${keyPrefix}instance-changes` })
  const withOutbox = { outbox: outboxPool !== undefined }
  await app.register(messageRoutes, withOutbox)
  await app.register(instanceRoutes)
  await app.register(healthRoutes, withOutbox)
  await app.register(metricsRoutes, withOutbox)
  if (withOutbox.outbox) await app.register(outboxRoutes)
  if (sender !== undefined) await app.register(replyRoutes, { sender })
  return app
}
