import type { ChatwootError } from './errors.js'
import { filterPayload, filterProblem, idProblem, messageProblem, nulProblem, statusUpdateProblem } from './input-checks.js'
import type { Attachment } from './multipart.js'
import type { Safety } from './retry-policy.js'
import type {
  Contact, ContactFilter, ContactInbox, ContactPage, Conversation, ConversationList, ConversationStatus, CreateContactInput,
  CreateConversationInput, CreatedContact, Inbox, ListConversationsQuery, Message, MessageList, MessageType, ToggleStatusAnswer,
  UpdateContactInput, UpdateMessageStatusInput
} from './types.js'

// Moved to input-checks.ts; still found here by the modules that import them from operations.ts.
export { attachmentProblem, MAX_ATTACHMENTS, nulPath } from './input-checks.js'

export interface CreateMessageInput {
  content?: string
  message_type?: MessageType
  private?: boolean
  content_type?: string
  content_attributes?: Record<string, unknown>
  /**
   * Stored by Chatwoot as given. Generated when absent for incoming, activity and template messages, so a
   * retry can look for it; never for outgoing ones (the default type): give your own only to mirror a
   * message already sent on the channel, as Chatwoot will not send it there.
   */
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
  toggleConversationStatus: { conversationId: number, status?: ConversationStatus, snoozedUntil?: number }
  createMessage: { conversationId: number, message: CreateMessageInput }
  listMessages: { conversationId: number, before?: number, after?: number }
  listInboxes: Record<string, never>
  deleteMessage: { conversationId: number, messageId: number }
  updateMessageStatus: { conversationId: number, messageId: number, update: UpdateMessageStatusInput }
  mergeContacts: { baseContactId: number, mergeeContactId: number }
  updateContact: { contactId: number, patch: UpdateContactInput }
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
  /** Chatwoot answers 204 with no body. */
  updateMessageStatus: undefined
  /** The base contact after the merge, without its contact_inboxes. */
  mergeContacts: Contact
  /** The contact after the update, with its contact_inboxes. */
  updateContact: { payload: Contact }
}

export type OperationName = keyof OperationParams

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'
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
  /** Why a failure of this operation cannot be cured by sending it again: it then fails at once, with these words. */
  hopeless?: (error: ChatwootError, params: OperationParams[K]) => string | undefined
}

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
    check: ({ filters }) => filterProblem(filters),
    request: ({ filters, page }) => ({ method: 'POST', path: '/contacts/filter', query: { page }, json: { payload: filterPayload(filters) } })
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
    // An API inbox answers 500 for a source_id another contact holds there (an unhandled unique violation):
    // idempotent as the call is, every retry meets the same row.
    hopeless: ({ statusCode }, { sourceId }) => statusCode === 500 && sourceId !== undefined
      ? 'the source_id is probably held by another contact in this inbox (Chatwoot does not handle that clash in API inboxes), ' +
        'so sending it again cannot help: find that contact (filterContacts, searchContacts) or use another source_id'
      : undefined,
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
    check: ({ conversationId, snoozedUntil }) => idProblem('conversationId', conversationId) ??
      (snoozedUntil === undefined ? undefined : idProblem('snoozed_until (unix seconds)', snoozedUntil)),
    request: ({ conversationId, status, snoozedUntil }) => ({
      method: 'POST', path: `/conversations/${conversationId}/toggle_status`, json: { status, snoozed_until: snoozedUntil }
    })
  },
  createMessage: {
    // Without a source_id there is nothing to look for before sending again: only what surely did not land is retried.
    safety: ({ message }) => message.source_id === undefined ? 'unsafe' : 'guarded',
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
  },
  updateMessageStatus: {
    // Setting a status twice is harmless. API inboxes only: elsewhere Chatwoot answers 403.
    safety: 'idempotent',
    check: ({ conversationId, messageId, update }) =>
      idProblem('conversationId', conversationId) ?? idProblem('messageId', messageId) ?? statusUpdateProblem(update),
    request: ({ conversationId, messageId, update }) => ({
      method: 'PATCH', path: `/conversations/${conversationId}/messages/${messageId}`, json: update
    })
  },
  mergeContacts: {
    // Not sent again after a failure that may have landed: the mergee is gone then, and a retry's 404 would
    // say the merge failed when it happened.
    safety: 'unsafe',
    check: ({ baseContactId, mergeeContactId }) => idProblem('baseContactId', baseContactId) ?? idProblem('mergeeContactId', mergeeContactId),
    request: ({ baseContactId, mergeeContactId }) => ({
      method: 'POST', path: '/actions/contact_merge', json: { base_contact_id: baseContactId, mergee_contact_id: mergeeContactId }
    })
  },
  updateContact: {
    // The same fields set twice give the same contact (the attribute hashes merge key by key), so a re-send is harmless.
    safety: 'idempotent',
    check: ({ contactId, patch }) => idProblem('contactId', contactId) ??
      (typeof patch === 'object' && patch !== null && !Array.isArray(patch) ? undefined : 'patch must be an object'),
    request: ({ contactId, patch }) => ({ method: 'PUT', path: `/contacts/${contactId}`, json: patch })
  }
}

export const OPERATIONS = Object.fromEntries(Object.entries(DEFINITIONS)
  .map(([name, operation]) => [name, refusingNul(operation as Operation<OperationName>)])) as typeof DEFINITIONS
