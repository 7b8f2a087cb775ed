// A failed Chatwoot call is one class whose `code` says which failure; it lives with every other code
// in lib/errors.ts (one vocabulary) and is re-exported here, where the client's code has always found it.
export { CHATWOOT_ERROR_CODES, ChatwootError, isChatwootError } from '../errors.js'
export type { ChatwootErrorCode, ChatwootErrorDetails } from '../errors.js'
