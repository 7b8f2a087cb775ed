import type { Attachment } from './multipart.js'
import type { ContactFilter, UpdateMessageStatusInput } from './types.js'

// The checks made before anything is sent: each names the first thing wrong, in the words the caller
// reads in FST_CHATWOOT_INPUT_INVALID. Here, not in operations.ts, so the table of operations stays a table.

export const MAX_ATTACHMENTS = 15

const isId = (value: unknown) => Number.isSafeInteger(value) && (value as number) > 0
export const idProblem = (name: string, value: unknown) => isId(value) ? undefined : `${name} must be a positive integer, got ${String(value)}`

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

export function messageProblem (message: { source_id?: unknown, attachments?: unknown }): string | undefined {
  if (typeof message !== 'object' || message === null) return 'message must be an object'
  const { source_id: sourceId } = message
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

/** Whether any string or object key in `value` holds a NUL byte; builds no path (every request is checked). */
function holdsNul (value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.includes('\u0000')
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH || !walkable(value)) return false
  for (const key in value) {
    if (key.includes('\u0000') || holdsNul((value as Record<string, unknown>)[key], depth + 1)) return true
  }
  return false
}

/** Where the first string (or object key) holding a NUL byte is, as `input.name` or `filters[0].values[1]`; undefined when none. */
export function nulPath (value: unknown, path: string, depth = 0): string | undefined {
  // The path is spelled out only for the rare input that has one.
  if (depth === 0 && !holdsNul(value, 0)) return undefined
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

export function nulProblem (params: unknown): string | undefined {
  const path = nulPath(params, '')
  return path === undefined ? undefined : `${path} holds a NUL byte (\\u0000), which Chatwoot cannot store (it answers 500)`
}

// Contacts::FilterService's operators per standard key (CONTRACT.md): any other is a 422 there. Keys
// outside this table (custom attributes) go as given, but starts_with is phone_number's alone.
const TEXT_OPERATORS = ['equal_to', 'not_equal_to', 'contains', 'does_not_contain']
const FILTER_OPERATORS: Record<string, string[]> = {
  name: TEXT_OPERATORS,
  email: TEXT_OPERATORS,
  phone_number: [...TEXT_OPERATORS, 'starts_with'],
  identifier: ['equal_to', 'not_equal_to']
}

function conditionProblem (filter: ContactFilter, at: string): string | undefined {
  if (typeof filter !== 'object' || filter === null) return `${at} must be an object { attribute_key, filter_operator, values }`
  const { attribute_key: key, filter_operator: operator, values, query_operator: join } = filter
  if (typeof key !== 'string' || key === '') return `${at}.attribute_key must be a non-empty string`
  const allowed = Object.hasOwn(FILTER_OPERATORS, key) ? FILTER_OPERATORS[key]! : undefined
  if (typeof operator !== 'string' || (allowed !== undefined && !allowed.includes(operator))) {
    return `${at}.filter_operator ${JSON.stringify(operator)} is not allowed for ${key}: use one of [${(allowed ?? TEXT_OPERATORS).join(', ')}]`
  }
  if (allowed === undefined && operator === 'starts_with') return `${at}.filter_operator starts_with is for phone_number only`
  // Chatwoot answers 422 for no values, and matches everything with contains "" or nothing with equal_to "".
  if (!Array.isArray(values) || values.length === 0) return `${at}.values must be a non-empty array of strings`
  const bad = values.findIndex((value) => typeof value !== 'string' || value === '')
  if (bad !== -1) return `${at}.values[${bad}] must be a non-empty string`
  if (join !== undefined && join !== null && !/^(and|or)$/i.test(String(join))) {
    return `${at}.query_operator must be 'and' or 'or', got ${JSON.stringify(join)}`
  }
  return undefined
}

export function filterProblem (filters: ContactFilter[]): string | undefined {
  if (!Array.isArray(filters) || filters.length === 0) return 'filters must be a non-empty array'
  for (const [index, filter] of filters.entries()) {
    const problem = conditionProblem(filter, `filters[${index}]`)
    if (problem !== undefined) return problem
  }
  return undefined
}

/**
 * The payload as Chatwoot must get it: it writes each condition's query_operator after it into its SQL,
 * so the last one must have none and every other one must have one (else 500). The caller's joins are
 * kept between conditions (AND when none was given), and the last one is dropped.
 */
export function filterPayload (filters: ContactFilter[]): ContactFilter[] {
  return filters.map((filter, index) => {
    const { query_operator: join, ...condition } = filter
    if (index === filters.length - 1) return condition
    return { ...condition, query_operator: (join ?? 'and').toUpperCase() as 'AND' | 'OR' }
  })
}

const MESSAGE_STATUSES = ['sent', 'delivered', 'read', 'failed']

// Chatwoot ignores a status it does not know without an error: refused here, so a typo is not lost in silence.
export function statusUpdateProblem (update: UpdateMessageStatusInput): string | undefined {
  if (typeof update !== 'object' || update === null) return 'the update must be an object { status, external_error? }'
  const { status, external_error: externalError } = update
  if (!MESSAGE_STATUSES.includes(status)) return `status must be one of [${MESSAGE_STATUSES.join(', ')}], got ${JSON.stringify(status)}`
  if (externalError !== undefined && typeof externalError !== 'string') return `external_error must be a string, got ${typeof externalError}`
  return undefined
}
