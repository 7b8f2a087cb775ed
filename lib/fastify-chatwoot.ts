import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { type ChatwootClientPluginOptions, chatwootClient } from './client/plugin.js'
import { type ChatwootConversationsOptions, chatwootConversations } from './conversations/plugin.js'
import { OptionsInvalidError } from './errors.js'
import { type ChatwootInstancesOptions, chatwootInstances } from './instances/plugin.js'
import { type ChatwootOutboxOptions } from './outbox/options.js'
import { chatwootOutbox } from './outbox/plugin.js'
import { type InstancePostgresOptions, instancePostgres } from './postgres/plugin.js'
import type { ChatwootWebhooksOptions } from './webhooks/options.js'
import { chatwootWebhooks } from './webhooks/plugin.js'

/** One options object for the whole collection: each key is the options of one plugin. */
export interface FastifyChatwootOptions {
  instances: ChatwootInstancesOptions
  /** `false` leaves instancePostgres out (no instance has a Chatwoot database). */
  postgres?: InstancePostgresOptions | false
  client?: ChatwootClientPluginOptions
  conversations?: ChatwootConversationsOptions
  /** chatwootOutbox's options: durable delivery through Postgres (enqueue). Left out unless given. */
  outbox?: ChatwootOutboxOptions | false
  /** chatwootWebhooks' options: the agents' replies from Chatwoot's webhooks (onAgentMessage). Left out unless given. */
  webhooks?: ChatwootWebhooksOptions | false
}

const PARTS = ['instances', 'postgres', 'client', 'conversations', 'outbox', 'webhooks'] as const

const plugin: FastifyPluginAsync<FastifyChatwootOptions> = async (fastify, options) => {
  if (typeof options !== 'object' || options === null) {
    throw new OptionsInvalidError('fastifyChatwoot', `options must be an object, got ${options === null ? 'null' : typeof options}`)
  }
  // A misspelt key would otherwise drop that plugin's options without a word.
  const unknown = Object.keys(options).filter((key) => !(PARTS as readonly string[]).includes(key))
  if (unknown.length > 0) {
    throw new OptionsInvalidError('fastifyChatwoot', `unknown option "${unknown[0]}"; expected one of ${PARTS.join(', ')}`)
  }
  const { instances, postgres = {}, client = {}, conversations = {}, outbox = false, webhooks = false } = options
  if (typeof instances !== 'object' || instances === null) {
    throw new OptionsInvalidError('fastifyChatwoot', `option "instances" must be the chatwootInstances options, got ${instances === null ? 'null' : typeof instances}`)
  }

  // The order the layers depend on: settings, then what reads them, then what uses the client.
  await fastify.register(chatwootInstances, instances)
  if (postgres !== false) await fastify.register(instancePostgres, postgres)
  await fastify.register(chatwootClient, client)
  // The outbox's workers take the get-or-create lock in the outbox's own database while Redis is down.
  const storage = outbox === false ? undefined : outbox.pool ?? outbox.connectionString
  await fastify.register(chatwootConversations, conversations.postgres === undefined && storage !== undefined ? { ...conversations, postgres: storage } : conversations)
  // Opt-in: it needs a Postgres of the host's for its table, and runs workers.
  if (outbox !== false) await fastify.register(chatwootOutbox, outbox)
  // Last: it needs the client, and the outbox (when given) is there before it for the replies to ride.
  // Its sweep keeps a watermark per instance: in the outbox's database unless told otherwise.
  if (webhooks !== false) await fastify.register(chatwootWebhooks, webhooks.postgres === undefined && storage !== undefined ? { ...webhooks, postgres: storage } : webhooks)
}

/** Registers chatwootInstances, instancePostgres, chatwootClient, chatwootConversations (and chatwootOutbox, chatwootWebhooks when asked) in their order. */
export const fastifyChatwoot = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot'
})
