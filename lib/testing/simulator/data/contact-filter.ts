import { couldNotCreate, internalServerError } from '../answers.js'
import { isRecord, text } from '../params.js'
import { contactPage, type ContactPage } from './contacts.js'
import type { Queryable } from './sql.js'

// Contacts::FilterService as v4.9.1 runs it (CONTRACT.md, POST /contacts/filter): each condition is
// checked in turn (422s), then all are pasted into one SQL string, so a misplaced query_operator is a
// syntax error there (500) that only shows once every condition has passed its checks.

const TEXT_OPERATORS = ['equal_to', 'not_equal_to', 'contains', 'does_not_contain']
const OPERATORS: Record<string, string[]> = {
  name: TEXT_OPERATORS,
  email: TEXT_OPERATORS,
  phone_number: [...TEXT_OPERATORS, 'starts_with'],
  identifier: ['equal_to', 'not_equal_to']
}

export interface FilterCondition { column: string, operator: string, value: unknown, join: string | undefined }

/** Rails' `blank?`: nil, false, an empty or whitespace string, an empty array or hash. */
function blank (value: unknown): boolean {
  if (value === undefined || value === null || value === false) return true
  if (typeof value === 'string') return value.trim() === ''
  if (Array.isArray(value)) return value.length === 0
  return isRecord(value) && Object.keys(value).length === 0
}

/** `values[0]` in Ruby: an array's first item, a string's first character, nothing for anything else. */
function firstValue (values: unknown): unknown {
  if (Array.isArray(values)) return values[0]
  if (typeof values === 'string') return [...values][0]
  return undefined
}

function checkedCondition (item: unknown): FilterCondition {
  const condition = isRecord(item) ? item : {}
  const column = text(condition.attribute_key) ?? ''
  const operator = text(condition.filter_operator) ?? ''
  const allowed = Object.hasOwn(OPERATORS, column) ? OPERATORS[column] : undefined
  if (allowed !== undefined && !allowed.includes(operator)) {
    throw couldNotCreate(`Invalid operator. The allowed operators for ${column} are [${allowed.join(',')}].`)
  }
  if (blank(condition.values)) throw couldNotCreate(`Invalid value. The values provided for ${column} are invalid`)
  // Custom attributes and the other standard keys (city, company, labels, dates) are not modelled.
  if (allowed === undefined) throw couldNotCreate(`Invalid attribute key - [${column}]`)
  const join = condition.query_operator === undefined || condition.query_operator === null ? undefined : String(condition.query_operator)
  return { column, operator, value: firstValue(condition.values), join }
}

/** Every condition's checks, then the placement of the query operators: only AND or OR, after each condition but the last. */
export function filterConditions (payload: unknown): FilterCondition[] {
  // `params[:payload].each` on anything but an array raises: Rails' 500.
  if (!Array.isArray(payload)) throw internalServerError()
  const conditions = payload.map(checkedCondition)
  for (const [index, condition] of conditions.entries()) {
    const join = condition.join?.trim() ?? ''
    const valid = index === conditions.length - 1 ? join === '' : /^(and|or)$/i.test(join)
    if (!valid) throw internalServerError()
  }
  return conditions
}

function comparison (condition: FilterCondition, parameter: string): { sql: string, value: unknown } {
  const { column, operator, value } = condition
  const asText = value === undefined || value === null ? null : String(value)
  if (operator === 'contains' || operator === 'does_not_contain') {
    // `%` and `_` in the value are not escaped: they stay wildcards.
    return { sql: `${column} ${operator === 'contains' ? 'ILIKE' : 'NOT ILIKE'} ${parameter}`, value: `%${asText ?? ''}%` }
  }
  // equal_to, not_equal_to, and phone's starts_with (an equality there): values[0] only, compared
  // case-insensitively; a phone value becomes "+" and its digits.
  const compared = column === 'phone_number' ? `+${(asText ?? '').replaceAll('+', '')}` : asText?.toLowerCase() ?? null
  return { sql: `lower(${column}) ${operator === 'not_equal_to' ? '<>' : '='} ${parameter}`, value: compared }
}

/** Negative operators never match a NULL column, as in SQL. An empty payload filters nothing. */
export async function filterContacts (db: Queryable, accountId: number, conditions: FilterCondition[], page: number): Promise<ContactPage> {
  const values: unknown[] = [accountId]
  let expression = ''
  for (const condition of conditions) {
    const { sql, value } = comparison(condition, `$${values.length + 1}`)
    values.push(value)
    // One SQL string, so AND binds tighter than OR as in Chatwoot.
    expression += ` ${sql} ${condition.join?.trim().toUpperCase() ?? ''}`
  }
  return contactPage(db, `account_id = $1${expression === '' ? '' : ` AND (${expression.trim()})`}`, values, page)
}
