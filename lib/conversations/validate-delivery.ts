import { attachmentProblem, MAX_ATTACHMENTS, nulPath } from '../client/operations.js'
import { DeliveryInvalidError } from '../errors.js'
import type { DeliveryInput } from './types.js'

// deliver() writes a contact, a conversation and a Redis key before it posts the message. Anything Chatwoot
// would refuse in the message must be refused here first, or it fails only after all of that was written.

/** Chatwoot's limit on message content, in characters (CONTRACT.md, message create). */
export const MAX_CONTENT_LENGTH = 150_000
/** Our bound on contact.identifier: it is a cache and lock key, and Chatwoot keys the contact on it. */
export const MAX_IDENTIFIER_LENGTH = 255
/** Our bound on message.source_id: it is part of a Redis key and the duplicate check's search term. */
export const MAX_SOURCE_ID_LENGTH = 255
/** Our bound on contact.aliases: each is a filter condition in the search for the person (and a key in the alias map). */
export const MAX_ALIASES = 8
export { MAX_ATTACHMENTS }
export const MESSAGE_TYPES: readonly string[] = Object.freeze(['incoming', 'outgoing', 'activity', 'template'])

const CONTACT_STRINGS = ['name', 'phone_number', 'email', 'avatar_url'] as const
const MESSAGE_STRINGS = ['content_type', 'echo_id'] as const
// Long enough to recognise a value, short enough that a message never carries a whole payload.
const SHOWN = 40

/** What a field got, for the error: short strings quoted, long ones by their length only. */
function got (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (typeof value === 'string') {
    if (value === '') return 'an empty string'
    return value.length > SHOWN ? `a string of ${value.length} characters` : JSON.stringify(value)
  }
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`
  return `a value of type ${typeof value}`
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function refuse (field: string, problem: string): never {
  throw new DeliveryInvalidError(`${field} ${problem}`)
}

// null is "not given": gateways build contacts from records whose empty columns are null.
function optionalString (field: string, value: unknown): void {
  if (value !== undefined && value !== null && typeof value !== 'string') refuse(field, `must be a string, got ${got(value)}`)
}

/** Ruby counts characters by code point, JavaScript by UTF-16 unit: count the slow way only when it matters. */
function characters (text: string): number {
  if (text.length <= MAX_CONTENT_LENGTH) return text.length
  // A surrogate pair is two UTF-16 units but one character. A loop, not a regex: no array of 150,000 matches.
  let count = 0
  for (let index = 0; index < text.length; index++, count++) {
    const unit = text.charCodeAt(index)
    if (unit >= 0xD800 && unit <= 0xDBFF && (text.charCodeAt(index + 1) & 0xFC00) === 0xDC00) index++
  }
  return count
}

function checkContact (contact: unknown): void {
  if (!isRecord(contact)) refuse('contact', `must be an object, got ${got(contact)}`)
  const { identifier } = contact
  if (typeof identifier !== 'string') refuse('contact.identifier', `must be a string, got ${identifier === undefined ? 'none' : got(identifier)}`)
  if (identifier.trim() === '') refuse('contact.identifier', `must not be empty or blank, got ${got(identifier)}`)
  if (identifier.length > MAX_IDENTIFIER_LENGTH) {
    refuse('contact.identifier', `must be at most ${MAX_IDENTIFIER_LENGTH} characters, got ${identifier.length}`)
  }
  validateAliases('contact.aliases', contact.aliases)
  for (const name of CONTACT_STRINGS) optionalString(`contact.${name}`, contact[name])
  const { additional_attributes: attributes } = contact
  if (attributes !== undefined && !isRecord(attributes)) refuse('contact.additional_attributes', `must be an object, got ${got(attributes)}`)
}

/** Throws DeliveryInvalidError unless `aliases` is absent or a bounded array of non-empty ids without a NUL byte. */
export function validateAliases (name: string, aliases: unknown): void {
  if (aliases === undefined || aliases === null) return
  if (!Array.isArray(aliases)) refuse(name, `must be an array of strings, got ${got(aliases)}`)
  if (aliases.length > MAX_ALIASES) refuse(name, `must hold at most ${MAX_ALIASES} ids, got ${aliases.length}`)
  for (const [index, alias] of aliases.entries()) {
    const field = `${name}[${index}]`
    // Checked here too: the aliases option's answer does not pass through the whole input's NUL check.
    if (typeof alias === 'string' && alias.includes('\u0000')) refuse(field, 'holds a NUL byte (\\u0000), which Chatwoot cannot store')
    if (typeof alias !== 'string' || alias.trim() === '') refuse(field, `must be a non-empty string, got ${got(alias)}`)
    if (alias.length > MAX_IDENTIFIER_LENGTH) refuse(field, `must be at most ${MAX_IDENTIFIER_LENGTH} characters, got ${alias.length}`)
  }
}

function checkSourceId (sourceId: unknown): void {
  if (sourceId === undefined) return
  if (typeof sourceId === 'number') {
    // The duplicate check compares source_ids as text: a number is never found, and the message is posted twice.
    refuse('message.source_id', `must be a string, got number ${sourceId}: pass String(${sourceId})`)
  }
  if (typeof sourceId !== 'string' || sourceId === '') refuse('message.source_id', `must be a non-empty string, got ${got(sourceId)}`)
  if (sourceId.length > MAX_SOURCE_ID_LENGTH) {
    refuse('message.source_id', `must be at most ${MAX_SOURCE_ID_LENGTH} characters, got ${sourceId.length}`)
  }
}

function checkMessage (message: unknown): void {
  if (!isRecord(message)) refuse('message', `must be an object, got ${got(message)}`)
  const { content, message_type: type, content_attributes: attributes, private: isPrivate } = message
  optionalString('message.content', content)
  const length = typeof content === 'string' ? characters(content) : 0
  if (length > MAX_CONTENT_LENGTH) refuse('message.content', `must be at most ${MAX_CONTENT_LENGTH} characters (Chatwoot's limit), got ${length}`)
  if (type !== undefined && (typeof type !== 'string' || !MESSAGE_TYPES.includes(type))) {
    refuse('message.message_type', `must be one of ${MESSAGE_TYPES.join(', ')}, got ${got(type)}`)
  }
  checkSourceId(message.source_id)
  for (const name of MESSAGE_STRINGS) optionalString(`message.${name}`, message[name])
  if (attributes !== undefined && typeof attributes !== 'string' && !isRecord(attributes)) {
    refuse('message.content_attributes', `must be an object or a JSON string, got ${got(attributes)}`)
  }
  if (isPrivate !== undefined && typeof isPrivate !== 'boolean') refuse('message.private', `must be a boolean, got ${got(isPrivate)}`)
  const problem = attachmentProblem(message.attachments)
  if (problem !== undefined) throw new DeliveryInvalidError(problem)
}

/**
 * Throws DeliveryInvalidError naming the first field Chatwoot (or the duplicate check) would refuse.
 * No I/O: deliver() calls it before it writes anything.
 */
export function validateDelivery (input: DeliveryInput): void {
  if (!isRecord(input)) refuse('the input', `must be an object { contact, message }, got ${got(input)}`)
  checkContact(input.contact)
  checkMessage(input.message)
  // Postgres text and jsonb cannot hold a NUL byte: Chatwoot answers 500, and every retry the same.
  const path = nulPath(input, '')
  if (path !== undefined) refuse(path, 'holds a NUL byte (\\u0000), which Chatwoot cannot store')
}
