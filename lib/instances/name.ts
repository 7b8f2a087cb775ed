import { InstanceNameInvalidError } from '../errors.js'

// Names end up in Redis keys, log lines and pool labels: a strict alphabet keeps glob
// characters (`*`, `{`), separators (`:`) and unbounded input out of all of them.
const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export function isInstanceName (name: unknown): name is string {
  return typeof name === 'string' && INSTANCE_NAME.test(name)
}

export function assertInstanceName (name: unknown): asserts name is string {
  if (!isInstanceName(name)) throw new InstanceNameInvalidError(describe(name))
}

// Shows what was received without echoing a 10 kB string or a secret pasted by mistake.
function describe (value: unknown): string {
  if (typeof value !== 'string') return `a value of type ${value === null ? 'null' : typeof value}`
  if (value.length === 0) return 'an empty string'
  if (value.length > 64) return `a string of ${value.length} characters`
  return JSON.stringify(value)
}
