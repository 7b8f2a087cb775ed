// The types of `require('fastify-chatwoot')`, written like @fastify/redis's: a function merged with a
// namespace and `export =`, so a CommonJS caller (TypeScript or `// @ts-check` JavaScript) gets the
// plugin itself and still finds every named export, value or type, on it. test/package.test.ts
// fails naming any export of dist/index.d.ts missing here.
import {
  // instances
  chatwootInstances, validateInstanceConfig, isInstanceName,
  type ChatwootInstances, type ChatwootInstancesOptions, type ChatwootSettings, type InstanceConfig,
  type ResolvedInstance, type InstanceChangeListener, type ResolveInstance,
  // postgres
  instancePostgres,
  type InstancePg, type InstancePostgresOptions, type DatabaseSource, type PoolSetStats, type PoolState, type ResolveDatabase,
  // errors
  ClientClosedError, DeliveryInFlightError, DeliveryInvalidError, InstanceConfigInvalidError, InstanceNameInvalidError,
  InstanceNotFoundError, OptionsInvalidError, PgClosedError, PgConnectError, PgNotConfiguredError, MisrouteUnresolvedError,
  errorCodes, type ErrorCode,
  // client
  chatwootClient, ChatwootClient, CLIENT_CHANNEL, ChatwootError, isChatwootError, DEFAULT_RETRY,
  type ChatwootClientPluginOptions, type ChatwootDecorator, type RequestChatwoot, type RouteChatwootConfig, type ClientOverrides,
  type ChatwootExtensions, type RequestChatwootExtensions, type CallHooks,
  type ChatwootClientOptions, type ClientCallEvent, type ClientLogger, type ErrorContext, type FindMessage, type OnErrorHook,
  type RetryDirective, type ChatwootErrorCode, type Attachment, type CreateMessageInput, type OperationAnswers,
  type OperationName, type OperationParams, type RetryOptions,
  // Chatwoot's API types
  type ConversationStatus, type MessageType, type Inbox, type ContactInbox, type Contact, type ContactPage, type Message,
  type Conversation, type ConversationList, type MessageList, type ToggleStatusAnswer, type CreateContactInput,
  type CreatedContact, type ContactFilter, type CreateConversationInput, type ListConversationsQuery,
  type MessageSender, type MessageStatus, type UpdateMessageStatusInput, type UpdateContactInput,
  // conversations
  chatwootConversations, CONVERSATIONS_CHANNEL,
  type ChatwootConversationsOptions, type ConversationPolicy, type DeliveryContact, type ConversationEvent,
  type ConversationsApi, type ConversationStats, type DeliveryInput, type DeliveryResult, type BreakerOptions,
  type DeliverOptions, type RedisClientLike, validateDelivery, MAX_CONTENT_LENGTH, MAX_IDENTIFIER_LENGTH, MAX_SOURCE_ID_LENGTH,
  // outbox
  chatwootOutbox, OUTBOX_CHANNEL, type EnqueueOptions, type OutboxApi, type ChatwootOutboxOptions, type DeadEntry, type DeadPage,
  type OutboxStats, type EnqueueResult, type EntryState, type AttachmentRef, type OpenAttachment, type OutboxAttachment,
  type OutboxInput, type OutboxMessage,
  // webhooks
  chatwootWebhooks, signWebhook, type AgentMessageContext, type ChatwootWebhooksOptions, type OnAgentMessage, type ReportStatus,
  type WebhookMessage,
  // the collection and its typing
  fastifyChatwoot as plugin, type FastifyChatwootOptions, instancePgOf, type RequestChatwootOf, type WithInstancePg
} from '../dist/index.js'

declare function fastifyChatwoot (...params: Parameters<typeof plugin>): ReturnType<typeof plugin>

declare namespace fastifyChatwoot {
  export {
    chatwootInstances, validateInstanceConfig, isInstanceName,
    ChatwootInstances, ChatwootInstancesOptions, ChatwootSettings, InstanceConfig,
    ResolvedInstance, InstanceChangeListener, ResolveInstance,

    instancePostgres,
    InstancePg, InstancePostgresOptions, DatabaseSource, PoolSetStats, PoolState, ResolveDatabase,

    ClientClosedError, DeliveryInFlightError, DeliveryInvalidError, InstanceConfigInvalidError, InstanceNameInvalidError,
    InstanceNotFoundError, OptionsInvalidError, PgClosedError, PgConnectError, PgNotConfiguredError, MisrouteUnresolvedError,
    errorCodes, ErrorCode,

    chatwootClient, ChatwootClient, CLIENT_CHANNEL, ChatwootError, isChatwootError, DEFAULT_RETRY,
    ChatwootClientPluginOptions, ChatwootDecorator, RequestChatwoot, RouteChatwootConfig, ClientOverrides,
    ChatwootExtensions, RequestChatwootExtensions, CallHooks,
    ChatwootClientOptions, ClientCallEvent, ClientLogger, ErrorContext, FindMessage, OnErrorHook,
    RetryDirective, ChatwootErrorCode, Attachment, CreateMessageInput, OperationAnswers,
    OperationName, OperationParams, RetryOptions,

    ConversationStatus, MessageType, Inbox, ContactInbox, Contact, ContactPage, Message,
    Conversation, ConversationList, MessageList, ToggleStatusAnswer, CreateContactInput,
    CreatedContact, ContactFilter, CreateConversationInput, ListConversationsQuery,
    MessageSender, MessageStatus, UpdateMessageStatusInput, UpdateContactInput,

    chatwootConversations, CONVERSATIONS_CHANNEL,
    ChatwootConversationsOptions, ConversationPolicy, DeliveryContact, ConversationEvent,
    ConversationsApi, ConversationStats, DeliveryInput, DeliveryResult, BreakerOptions,
    DeliverOptions, RedisClientLike, validateDelivery, MAX_CONTENT_LENGTH, MAX_IDENTIFIER_LENGTH, MAX_SOURCE_ID_LENGTH,

    chatwootOutbox, OUTBOX_CHANNEL, EnqueueOptions, OutboxApi, ChatwootOutboxOptions, DeadEntry, DeadPage,
    OutboxStats, EnqueueResult, EntryState, AttachmentRef, OpenAttachment, OutboxAttachment, OutboxInput, OutboxMessage,

    chatwootWebhooks, signWebhook, AgentMessageContext, ChatwootWebhooksOptions, OnAgentMessage, ReportStatus, WebhookMessage,

    FastifyChatwootOptions, instancePgOf, RequestChatwootOf, WithInstancePg,
    fastifyChatwoot,
    fastifyChatwoot as default
  }
}

export = fastifyChatwoot
