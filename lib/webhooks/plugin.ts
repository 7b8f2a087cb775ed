import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { MessageStatus } from '../client/types.js'
import { isRedisClient, resolveRedis } from '../conversations/redis-option.js'
import { OptionsInvalidError } from '../errors.js'
import type { ChatwootWebhooksOptions } from './options.js'
import { webhooksOptions } from './options.js'
import { setStatus, type StatusOutcome, type StatusTarget } from './outcome.js'
import { WebhookReceiver } from './receive.js'
import { MemorySeen, RedisSeen } from './seen.js'

export type ReportStatus = (instance: string, target: StatusTarget, status: MessageStatus, reason?: string) => Promise<StatusOutcome>

declare module '../client/decorator.js' {
  interface ChatwootExtensions {
    /** Sets a message's status in Chatwoot (later receipts: delivered, read); a failure becomes a private note where refused. */
    reportStatus: ReportStatus
  }
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
  const receiver = new WebhookReceiver({
    settings,
    seen,
    instance: (name) => fastify.chatwootInstances.get(name),
    client: (instance) => chatwoot.clientFor(instance),
    log: fastify.log
  })
  const reportStatus: ReportStatus = async (instance, target, status, reason) => setStatus(await chatwoot.client(instance), target, status, reason)
  chatwoot.extend(fastify, { reportStatus })

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
  fastify.addHook('onClose', async () => receiver.drain())
}

export const chatwootWebhooks = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-webhooks'
})
