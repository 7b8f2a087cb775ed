export { chatwootWebhooks, type ReportStatus } from './plugin.js'
export type { AgentMessageContext, ChatwootWebhooksOptions, OnAgentMessage } from './options.js'
export type { WebhookMessage } from './events.js'
export { signWebhook } from './signature.js'
