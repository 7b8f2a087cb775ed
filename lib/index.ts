export { chatwootInstances } from './instances/plugin.js'
export type { ChatwootInstances, ChatwootInstancesOptions } from './instances/plugin.js'
export type { ChatwootSettings, InstanceConfig, ResolvedInstance } from './instances/config.js'
export { validateInstanceConfig } from './instances/config.js'
export type { InstanceChangeListener, ResolveInstance } from './instances/registry.js'
export { isInstanceName } from './instances/name.js'

export { instancePostgres } from './postgres/plugin.js'
export type { InstancePg, InstancePostgresOptions } from './postgres/plugin.js'
export type { DatabaseSource, PoolSetStats, PoolState, ResolveDatabase } from './postgres/pool-set.js'

export {
  ClientClosedError,
  DeliveryInFlightError,
  DeliveryInvalidError,
  errorCodes,
  InstanceConfigInvalidError,
  InstanceNameInvalidError,
  InstanceNotFoundError,
  MisrouteUnresolvedError,
  OptionsInvalidError,
  PgClosedError,
  PgConnectError,
  PgNotConfiguredError
} from './errors.js'
export type { ErrorCode } from './errors.js'

export * from './client/index.js'
export { chatwootClient } from './client/plugin.js'
export type {
  ChatwootClientPluginOptions, ChatwootDecorator, ChatwootExtensions, RequestChatwoot, RequestChatwootExtensions, RouteChatwootConfig
} from './client/plugin.js'
export type { ClientOverrides } from './instances/config.js'
export { chatwootConversations, CONVERSATIONS_CHANNEL } from './conversations/plugin.js'
export type { ChatwootConversationsOptions } from './conversations/plugin.js'
export type { RedisClientLike } from './conversations/options.js'
export { MAX_CONTENT_LENGTH, MAX_IDENTIFIER_LENGTH, MAX_SOURCE_ID_LENGTH, validateDelivery } from './conversations/validate-delivery.js'
export type { ConversationPolicy, DeliveryContact } from './conversations/get-or-create.js'
export type {
  ConversationEvent, ConversationsApi, ConversationStats, DeliverOptions, DeliveryInput, DeliveryResult
} from './conversations/types.js'
export type { BreakerOptions } from './conversations/breaker.js'

export { chatwootOutbox, OUTBOX_CHANNEL } from './outbox/plugin.js'
export type { EnqueueOptions, OutboxApi } from './outbox/plugin.js'
export type { ChatwootOutboxOptions } from './outbox/options.js'
export type { DeadEntry, DeadPage, OutboxStats } from './outbox/api.js'
export type { EnqueueResult, EntryState } from './outbox/enqueue.js'
export type { AttachmentRef, OpenAttachment, OutboxAttachment, OutboxInput, OutboxMessage } from './outbox/payload.js'

export { chatwootWebhooks, signWebhook } from './webhooks/index.js'
export type { AgentMessageContext, ChatwootWebhooksOptions, OnAgentMessage, ReportStatus, WebhookMessage } from './webhooks/index.js'

export { fastifyChatwoot } from './fastify-chatwoot.js'
export type { FastifyChatwootOptions } from './fastify-chatwoot.js'
export { fastifyChatwoot as default } from './fastify-chatwoot.js'

export { instancePgOf } from './typing.js'
export type { RequestChatwootOf, WithInstancePg } from './typing.js'
