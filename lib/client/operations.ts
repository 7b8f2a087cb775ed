import type { Attachment } from './multipart.js'
import type { Safety } from './retry-policy.js'
import type {
  ContactFilter, ContactInbox, ContactPage, Conversation, ConversationList, ConversationStatus, CreateContactInput,
  CreateConversationInput, CreatedContact, Inbox, ListConversationsQuery, Message, MessageList, MessageType, ToggleStatusAnswer
} from './types.js'

export const MAX_ATTACHMENTS = 15

export interface CreateMessageInput {
  content?: string
  message_type?: MessageType
  private?: boolean
  content_type?: string
  content_attributes?: Record<string, unknown>
  /** Stored by Chatwoot as given; the client generates one when absent, so a retry can look for it. */
  source_id?: string
  echo_id?: string
  /** Sent as multipart/form-data `attachments[]`; at most 15. */
  attachments?: Attachment[]
}

/** The parameters of each operation, as onError hooks see them and as a retry directive changes them. */
export interface OperationParams {
  searchContacts: { q: string, page?: number }
  filterContacts: { filters: ContactFilter[], page?: number }
  createContact: { input: CreateContactInput }
  contactConversations: { contactId: number }
  createContactInbox: { contactId: number, inboxId: number, sourceId?: string }
  createConversation: { input: CreateConversationInput }
  getConversation: { conversationId: number }
  listConversations: { query: ListConversationsQuery }
  toggleConversationStatus: { conversationId: number, status?: ConversationStatus }
  createMessage: { conversationId: number, message: CreateMessageInput }
  listMessages: { conversationId: number, before?: number, after?: number }
  listInboxes: Record<string, never>
  deleteMessage: { conversationId: number, messageId: number }
}

export interface OperationAnswers {
  searchContacts: ContactPage
  filterContacts: ContactPage
  createContact: CreatedContact
  contactConversations: { payload: Conversation[] }
  createContactInbox: ContactInbox
  createConversation: Conversation
  getConversation: Conversation
  listConversations: ConversationList
  toggleConversationStatus: ToggleStatusAnswer
  createMessage: Message
  listMessages: MessageList
  listInboxes: { payload: Inbox[] }
  deleteMessage: Message
}

export type OperationName = keyof OperationParams

export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH'
  /** Relative to `/api/v1/accounts/{account_id}`. */
  path: string
  query?: Record<string, string | number | undefined>
  json?: unknown
  multipart?: { fields: Array<[string, string]>, files: Attachment[] }
}

interface Operation<K extends OperationName> {
  safety: Safety | ((params: OperationParams[K]) => Safety)
  /** Names the first thing wrong with the parameters, before anything is sent. */
  check?: (params: OperationParams[K]) => string | undefined
  request: (params: OperationParams[K]) => RequestSpec
}

const isId = (value: unknown) => Number.isSafeInteger(value) && (value as number) > 0
const idProblem = (name: string, value: unknown) => isId(value) ? undefined : `${name} must be a positive integer, got ${String(value)}`

function messageRequest ({ conversationId, message }: OperationParams['createMessage']): RequestSpec {
  const path = `/conversations/${conversationId}/messages`
  const { attachments, ...fields } = message
  if (attachments === undefined || attachments.length === 0) return { method: 'POST', path, json: fields }
  const form: Array<[string, string]> = []
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue
    form.push([name, typeof value === 'object' ? JSON.stringify(value) : String(value)])
  }
  return { method: 'POST', path, multipart: { fields: form, files: attachments } }
}

/** The first thing wrong with a message's attachments (shared with validateDelivery, so both say the same). */
export function attachmentProblem (attachments: unknown, name = 'message.attachments'): string | undefined {
  if (attachments === undefined) return undefined
  if (!Array.isArray(attachments)) return `${name} must be an array, got ${attachments === null ? 'null' : typeof attachments}`
  if (attachments.length > MAX_ATTACHMENTS) return `${name} must hold at most ${MAX_ATTACHMENTS} files (Chatwoot's limit), got ${attachments.length}`
  for (const [index, file] of (attachments as Array<Partial<Attachment> | null>).entries()) {
    const at = `${name}[${index}]`
    if (typeof file !== 'object' || file === null) return `${at} must be an object { filename, contentType, data }`
    if (typeof file.filename !== 'string' || file.filename === '') return `${at}.filename must be a non-empty string`
    if (typeof file.contentType !== 'string' || file.contentType === '') return `${at}.contentType must be a non-empty string`
    if (!(file.data instanceof Uint8Array) && typeof file.data !== 'function') {
      return `${at}.data must be a Buffer or a function giving a fresh stream (a stream cannot be read twice)`
    }
  }
  return undefined
}

function messageProblem (message: CreateMessageInput): string | undefined {
  if (typeof message !== 'object' || message === null) return 'message must be an object'
  const { source_id: sourceId } = message as { source_id?: unknown }
  // The guard before a re-send compares source_ids as text: a number would never be found, and the message posted twice.
  if (sourceId !== undefined && (typeof sourceId !== 'string' || sourceId === '')) {
    const got = typeof sourceId === 'string' ? 'an empty string' : sourceId === null ? 'null' : `a ${typeof sourceId}: pass it as a string`
    return `message.source_id must be a non-empty string, got ${got}`
  }
  return attachmentProblem(message.attachments)
}

// Chatwoot stores strings in Postgres text and jsonb, which cannot hold a NUL byte: it answers 500, and a
// retry meets the same 500. The depth bound keeps a cyclic object from looping (JSON could not send it anyway).
const MAX_DEPTH = 32

const walkable = (value: object) => Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null

/** Where the first string (or object key) holding a NUL byte is, as `input.name` or `filters[0].values[1]`; undefined when none. */
export function nulPath (value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined
  // Bytes (attachment data) and functions (streams) are not text: a NUL there is data.
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH || !walkable(value)) return undefined
  for (const [key, item] of Object.entries(value)) {
    const inner = Array.isArray(value) ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`
    if (key.includes('\u0000')) return `a key of ${path === '' ? 'the input' : path}`
    const found = nulPath(item, inner, depth + 1)
    if (found !== undefined) return found
  }
  return undefined
}

function nulProblem (params: unknown): string | undefined {
  const path = nulPath(params, '')
  return path === undefined ? undefined : `${path} holds a NUL byte (\\u0000), which Chatwoot cannot store (it answers 500)`
}

/** Each operation's own check, then the NUL check every operation shares, so none can forget it. */
function refusingNul<K extends OperationName> (operation: Operation<K>): Operation<K> {
  const { check } = operation
  return { ...operation, check: (params) => check?.(params) ?? nulProblem(params) }
}

const DEFINITIONS: { [K in OperationName]: Operation<K> } = {
  searchContacts: {
    safety: 'read',
    check: ({ q }) => typeof q === 'string' && q.trim() !== '' ? undefined : 'q must be a non-empty string',
    request: ({ q, page }) => ({ method: 'GET', path: '/contacts/search', query: { q, page } })
  },
  filterContacts: {
    safety: 'read',
    check: ({ filters }) => Array.isArray(filters) && filters.length > 0 ? undefined : 'filters must be a non-empty array',
    request: ({ filters, page }) => ({ method: 'POST', path: '/contacts/filter', query: { page }, json: { payload: filters } })
  },
  createContact: {
    // A second create of the same identifier is refused by Chatwoot, but one without an identifier would duplicate.
    safety: 'unsafe',
    request: ({ input }) => ({ method: 'POST', path: '/contacts', json: input })
  },
  contactConversations: {
    safety: 'read',
    check: ({ contactId }) => idProblem('contactId', contactId),
    request: ({ contactId }) => ({ method: 'GET', path: `/contacts/${contactId}/conversations` })
  },
  createContactInbox: {
    // Idempotent for the same (contact, inbox, source_id); without a source_id each call makes a new one.
    safety: ({ sourceId }) => sourceId === undefined ? 'unsafe' : 'idempotent',
    check: ({ contactId, inboxId }) => idProblem('contactId', contactId) ?? idProblem('inboxId', inboxId),
    request: ({ contactId, inboxId, sourceId }) => ({
      method: 'POST', path: `/contacts/${contactId}/contact_inboxes`, json: { inbox_id: inboxId, source_id: sourceId }
    })
  },
  createConversation: {
    safety: 'unsafe',
    check: ({ input }) => idProblem('input.inbox_id', input?.inbox_id) ?? idProblem('input.contact_id', input?.contact_id),
    request: ({ input }) => ({ method: 'POST', path: '/conversations', json: input })
  },
  getConversation: {
    safety: 'read',
    check: ({ conversationId }) => idProblem('conversationId', conversationId),
    request: ({ conversationId }) => ({ method: 'GET', path: `/conversations/${conversationId}` })
  },
  listConversations: {
    safety: 'read',
    request: ({ query }) => ({ method: 'GET', path: '/conversations', query: { ...query } })
  },
  toggleConversationStatus: {
    // Setting a status twice is harmless; flipping twice is not.
    safety: ({ status }) => status === undefined ? 'unsafe' : 'idempotent',
    check: ({ conversationId }) => idProblem('conversationId', conversationId),
    request: ({ conversationId, status }) => ({
      method: 'POST', path: `/conversations/${conversationId}/toggle_status`, json: status === undefined ? {} : { status }
    })
  },
  createMessage: {
    safety: 'guarded',
    check: ({ conversationId, message }) => idProblem('conversationId', conversationId) ?? messageProblem(message),
    request: messageRequest
  },
  listMessages: {
    safety: 'read',
    check: ({ conversationId }) => idProblem('conversationId', conversationId),
    request: ({ conversationId, before, after }) => ({
      method: 'GET', path: `/conversations/${conversationId}/messages`, query: { before, after }
    })
  },
  listInboxes: {
    safety: 'read',
    request: () => ({ method: 'GET', path: '/inboxes' })
  },
  deleteMessage: {
    // Chatwoot's delete is soft and idempotent: the row stays, its content replaced.
    safety: 'idempotent',
    check: ({ conversationId, messageId }) => idProblem('conversationId', conversationId) ?? idProblem('messageId', messageId),
    request: ({ conversationId, messageId }) => ({ method: 'DELETE', path: `/conversations/${conversationId}/messages/${messageId}` })
  }
}

export const OPERATIONS = Object.fromEntries(Object.entries(DEFINITIONS)
  .map(([name, operation]) => [name, refusingNul(operation as Operation<OperationName>)])) as typeof DEFINITIONS
