export { ChatwootClient, CLIENT_CHANNEL } from './client.js'
export type {
  CallHooks, ChatwootClientOptions, ClientCallEvent, ClientLogger, ErrorContext, FindMessage, OnErrorHook, RetryDirective
} from './client.js'
export { ChatwootError, isChatwootError } from './errors.js'
export type { ChatwootErrorCode } from './errors.js'
export type { Attachment } from './multipart.js'
export type { CreateMessageInput, OperationAnswers, OperationName, OperationParams } from './operations.js'
export { DEFAULT_RETRY } from './retry-policy.js'
export type { RetryOptions } from './retry-policy.js'
export type * from './types.js'
