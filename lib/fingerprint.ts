// A stable text for "are these settings the same?": key order does not matter, and values
// JSON cannot express (functions such as a password callback, sockets, streams) compare by
// identity, so a new callback counts as a change and the same one does not.
const identities = new WeakMap<object, number>()
let nextIdentity = 0

function identity (value: object): string {
  let id = identities.get(value)
  if (id === undefined) {
    id = ++nextIdentity
    identities.set(value, id)
  }
  return `#${id}`
}

function normalise (value: unknown): unknown {
  if (typeof value === 'function') return identity(value)
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(normalise)
  if (Buffer.isBuffer(value)) return `buffer:${value.toString('base64')}`
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return identity(value)
  const sorted: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    sorted[key] = normalise((value as Record<string, unknown>)[key])
  }
  return sorted
}

export function fingerprint (value: unknown): string {
  return JSON.stringify(normalise(value)) ?? 'undefined'
}
