import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import pg from 'pg'
import type { MessageStatus } from '../client/types.js'
import { isRedisClient, resolveRedis } from '../conversations/redis-option.js'
import { OptionsInvalidError } from '../errors.js'
import type { ChatwootWebhooksOptions } from './options.js'
import { webhooksOptions } from './options.js'
import { setStatus, type StatusOutcome, type StatusTarget } from './outcome.js'
import { WebhookReceiver } from './receive.js'
import type { OutboxApi } from '../outbox/plugin.js'
import type { Evict } from './follow-status.js'
import type { SweepResult } from './reconcile.js'
import { REPLY_KIND, replyHandler } from './reply-kind.js'
import { MemorySeen, RedisSeen } from './seen.js'
import { Sweeper } from './sweeper.js'
import { Watermarks } from './watermark.js'

export type ReportStatus = (instance: string, target: StatusTarget, status: MessageStatus, reason?: string) => Promise<StatusOutcome>

declare module '../client/decorator.js' {
  interface ChatwootExtensions {
    /** Sets a message's status in Chatwoot (later receipts: delivered, read); a failure becomes a private note where refused. */
    reportStatus: ReportStatus
    /** With chatwootOutbox: one reconciliation sweep of the instance now (undefined when another replica is sweeping it). */
    reconcileReplies: (instance: string) => Promise<SweepResult | undefined>
  }
}

/** The watermark's pool: the one given, one made on a connection string (ended on close), or @fastify/postgres'. */
function watermarkPool (fastify: FastifyInstance, option: pg.Pool | string | false | undefined): { pool: pg.Pool, owned: boolean } | undefined {
  if (option === false) return undefined
  if (typeof option === 'string') {
    const pool = new pg.Pool({ connectionString: option, max: 2, application_name: 'fastify-chatwoot-webhooks' })
    // An idle connection the server drops emits 'error' on the pool: unheard, it would end the process.
    pool.on('error', (error) => fastify.log.warn({ err: error }, 'chatwootWebhooks: an idle Postgres connection failed'))
    return { pool, owned: true }
  }
  if (option !== undefined) return { pool: option, owned: false }
  const host = fastify.hasDecorator('pg') ? (fastify as unknown as { pg: { pool?: pg.Pool } }).pg.pool : undefined
  return host === undefined ? undefined : { pool: host, owned: false }
}

const plugin: FastifyPluginAsync<ChatwootWebhooksOptions> = async (fastify, options) => {
  const settings = webhooksOptions(options)
  for (const needed of ['chatwootInstances', 'chatwoot'] as const) {
    if (!fastify.hasDecorator(needed)) {
      throw new OptionsInvalidError('chatwootWebhooks', `needs fastify.${needed}: register ${needed === 'chatwoot' ? 'chatwootClient' : 'chatwootInstances'} before it`)
    }
  }
  if (settings.redis !== undefined && settings.redis !== false && !isRedisClient(settings.redis)) {
    throw new OptionsInvalidError('chatwootWebhooks', 'option "redis" must be an ioredis Redis or Cluster client, or false for none')
  }
  const redis = resolveRedis(fastify, settings.redis)
  // Without Redis each replica remembers only its own deliveries: a duplicate sent to another replica runs twice.
  const seen = redis === undefined ? new MemorySeen() : new RedisSeen(redis, `${settings.keyPrefix}webhooks:`)
  for (const name of settings.unsigned.keys()) {
    fastify.log.warn({ instance: name },
      'chatwootWebhooks: this instance takes UNSIGNED webhooks, checked only by the token in their path; set chatwoot.webhookSecret once its Chatwoot (4.10+) signs them')
  }

  const chatwoot = fastify.chatwoot
  // Registered before this plugin, they are used; without them the replies run in-process and the cache is not followed.
  // (fastify.chatwoot holds placeholders that throw until they are: the plugins are asked for instead.)
  const outbox = fastify.hasPlugin('fastify-chatwoot-outbox') ? (chatwoot as { outbox?: OutboxApi }).outbox : undefined
  const conversations = fastify.hasPlugin('fastify-chatwoot-conversations') ? (chatwoot as { conversations?: { evict?: Evict } }).conversations : undefined
  const enqueue = outbox === undefined ? undefined : (instance: string, entry: Parameters<OutboxApi['enqueueEntry']>[1]) => outbox.enqueueEntry(instance, entry)
  if (outbox !== undefined) {
    outbox.registerKind(REPLY_KIND, replyHandler({
      onAgentMessage: settings.onAgentMessage, client: (instance) => chatwoot.client(instance), replyAttempts: settings.replyAttempts, log: fastify.log
    }))
  }
  const sweeper = outbox === undefined || settings.reconcileMs === 0 ? undefined : await startSweeper(fastify, settings, enqueue!)
  const receiver = new WebhookReceiver({
    settings,
    seen,
    instance: (name) => fastify.chatwootInstances.get(name),
    client: (instance) => chatwoot.clientFor(instance),
    log: fastify.log,
    enqueue,
    evict: conversations?.evict === undefined ? undefined : (instance, contact) => conversations.evict!(instance, contact),
    heard: sweeper === undefined ? undefined : (instance) => sweeper.sweeper.heard(instance)
  })
  const reportStatus: ReportStatus = async (instance, target, status, reason) => setStatus(await chatwoot.client(instance), target, status, reason)
  const reconcileReplies = async (instance: string) => {
    if (sweeper === undefined) throw new OptionsInvalidError('chatwootWebhooks', 'the reconciliation sweep needs chatwootOutbox, a Postgres for its watermark and reconcileMs > 0')
    await sweeper.watermarks.note(instance)
    return sweeper.sweeper.run(instance)
  }
  chatwoot.extend(fastify, { reportStatus, reconcileReplies })

  // The raw body is what Chatwoot signed: a parser that keeps bytes, in this child scope only, so the
  // host's own routes keep their JSON parsing.
  await fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: settings.bodyLimit }, (_request, body, done) => done(null, body))
    const handler = async (request: { params: unknown, headers: Record<string, string | string[] | undefined>, body: unknown }) => {
      const { instance, token } = request.params as { instance: string, token?: string }
      return receiver.receive({ name: instance, token, headers: request.headers, body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0) })
    }
    scope.post(settings.path, handler)
    if (settings.unsigned.size > 0) scope.post(settings.tokenPath, handler)
  })
  // Replies already acknowledged to Chatwoot are finished, not dropped, when the app closes.
  fastify.addHook('onClose', async () => {
    await receiver.drain()
    await sweeper?.close()
  })
}

async function startSweeper (fastify: FastifyInstance, settings: ReturnType<typeof webhooksOptions>,
  enqueue: (instance: string, entry: Parameters<OutboxApi['enqueueEntry']>[1]) => Promise<{ existing: boolean }>) {
  const found = watermarkPool(fastify, settings.postgres)
  if (found === undefined) {
    fastify.log.warn('chatwootWebhooks: no Postgres for the sweep\'s watermark (option postgres, or @fastify/postgres): replies whose webhook is lost are not recovered')
    return undefined
  }
  const watermarks = new Watermarks(found.pool, settings.postgresSchema)
  try {
    await watermarks.migrate()
  } catch (error) {
    if (found.owned) await found.pool.end().catch(() => {})
    throw error
  }
  const sweeper = new Sweeper({
    watermarks,
    everyMs: settings.reconcileMs,
    log: fastify.log,
    deps: {
      instance: (name) => fastify.chatwootInstances.get(name),
      client: (name) => fastify.chatwoot.client(name),
      enqueue,
      isEcho: settings.isEcho,
      graceMs: settings.reconcileGraceMs
    }
  })
  fastify.addHook('onReady', async () => sweeper.start())
  return {
    sweeper,
    watermarks,
    close: async () => {
      await sweeper.close()
      if (found.owned) await found.pool.end()
    }
  }
}

export const chatwootWebhooks = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-webhooks'
})
