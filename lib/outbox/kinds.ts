import { DeliveryInvalidError } from '../errors.js'
import { type EntryHandler, kindProblem, MESSAGE_KIND } from './entry-kind.js'

/** An entry of another kind than `message`: its lane (order is kept per lane), its idempotency key and its JSON payload. */
export interface KindEntry {
  kind: string
  lane: string
  key: string
  sourceId: string
  payload: unknown
}

// Kinds come from code (plugins), not from users; still bounded, as every map here is.
const MAX_KINDS = 32

/** The handlers this process's workers run, by kind; `message` is always there. */
export class OutboxKinds {
  readonly #handlers = new Map<string, EntryHandler>()

  constructor (message: EntryHandler) {
    this.#handlers.set(MESSAGE_KIND, message)
  }

  handlerFor (kind: string): EntryHandler | undefined {
    return this.#handlers.get(kind)
  }

  register (kind: string, handler: EntryHandler): void {
    const problem = kindProblem(kind) ?? (typeof handler === 'function' ? undefined : `the handler of "${kind}" must be a function, got ${typeof handler}`)
    if (problem !== undefined) throw new DeliveryInvalidError(problem)
    if (this.#handlers.has(kind)) throw new DeliveryInvalidError(`the outbox kind "${kind}" is registered already`)
    if (this.#handlers.size >= MAX_KINDS) throw new DeliveryInvalidError(`at most ${MAX_KINDS} outbox kinds, got one more: "${kind}"`)
    this.#handlers.set(kind, handler)
  }
}

/** What enqueueEntry() refuses before anything is stored. */
export function checkKindEntry (entry: KindEntry): void {
  const problem = typeof entry !== 'object' || entry === null ? `an entry must be an object { kind, lane, key, sourceId, payload }, got ${typeof entry}` : kindProblem(entry.kind) ?? fieldsProblem(entry)
  if (problem !== undefined) throw new DeliveryInvalidError(problem)
}

function fieldsProblem (entry: KindEntry): string | undefined {
  if (entry.kind === MESSAGE_KIND) return 'entries of kind "message" are enqueued with enqueue(), which checks them as deliver() does'
  for (const field of ['lane', 'key', 'sourceId'] as const) {
    const value = entry[field]
    if (typeof value !== 'string' || value === '' || value.length > 255) {
      return `entry.${field} must be a string of 1-255 characters, got ${typeof value === 'string' ? `${value.length} characters` : typeof value}`
    }
  }
  return undefined
}
