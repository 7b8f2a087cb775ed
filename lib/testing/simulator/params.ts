// Rails permits scalars and drops what it cannot use, so wrong types never crash an action:
// these readers turn request values into what Chatwoot would see, or undefined.

export type Params = Record<string, unknown>

export function isRecord (value: unknown): value is Params {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function text (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return undefined
}

/** A non-blank string, as Rails' `present?` sees it. */
export function present (value: unknown): string | undefined {
  const string = text(value)
  return string !== undefined && string.trim() !== '' ? string : undefined
}

/** A database id: a positive integer or its digits; anything else finds no record. */
export function id (value: unknown): number | undefined {
  const string = text(value)
  if (string === undefined || !/^\d{1,9}$/.test(string)) return undefined
  const number = Number(string)
  return number > 0 ? number : undefined
}

/** Ruby's String#to_i: the leading integer, 0 when there is none. */
export function rubyInteger (value: unknown): number {
  const match = /^\s*[+-]?\d+/.exec(text(value) ?? '')
  return match === null ? 0 : Number(match[0])
}

export function flag (value: unknown): boolean | undefined {
  if (value === true || value === 'true' || value === '1' || value === 1) return true
  if (value === false || value === 'false' || value === '0' || value === 0) return false
  return undefined
}

export function record (value: unknown): Params | undefined {
  return isRecord(value) ? value : undefined
}

export function page (value: unknown): number {
  return id(value) ?? 1
}
