import { ChatwootAnswer, internalServerError, invalidAccessToken, notFound, railsError, retryLater } from './answers.js'
import { SimulatorOptionsInvalidError } from './errors.js'

export interface FaultSpec {
  /** Only requests with this method (any when absent). */
  method?: string
  /** Only this exact path (without the query), or paths the pattern matches (any when absent). */
  path?: string | RegExp
  /** Answer with this status instead of handling the request. */
  status?: number
  /** The body of that answer; by default Chatwoot's own body for the status (429: `Retry later\n` as text/plain). */
  body?: unknown
  contentType?: string
  /** How many matching requests the fault applies to. Default 1; `Infinity` for all. */
  times?: number
  /** Wait this long before handling (or answering with `status`). */
  delayMs?: number
  /** Handle and store as usual, then destroy the socket without answering: the client cannot know it landed. */
  dropAfterCommit?: boolean
  /** Reset the connection once the request has arrived, before anything is stored. */
  resetBeforeCommit?: boolean
}

interface ArmedFault extends FaultSpec { remaining: number }

const invalid = (option: string, why: string) => new SimulatorOptionsInvalidError(`faults.add(${option})`, why)

function validate (spec: FaultSpec): void {
  if (typeof spec !== 'object' || spec === null) throw invalid('spec', `expected an object, got ${typeof spec}`)
  const { status, times = 1, delayMs, dropAfterCommit, resetBeforeCommit, method, path } = spec
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
    throw invalid('status', `expected an HTTP status from 200 to 599, got ${String(status)}`)
  }
  if (!(times === Infinity || (Number.isInteger(times) && times > 0))) {
    throw invalid('times', `expected a positive integer or Infinity, got ${String(times)}`)
  }
  if (delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0)) {
    throw invalid('delayMs', `expected a non-negative number, got ${String(delayMs)}`)
  }
  if (method !== undefined && typeof method !== 'string') throw invalid('method', `expected a string, got ${typeof method}`)
  if (path !== undefined && typeof path !== 'string' && !(path instanceof RegExp)) {
    throw invalid('path', `expected a string or a RegExp, got ${typeof path}`)
  }
  const effects = [status !== undefined, dropAfterCommit === true, resetBeforeCommit === true].filter(Boolean).length
  if (effects > 1) throw invalid('spec', 'status, dropAfterCommit and resetBeforeCommit exclude each other')
  if (effects === 0 && delayMs === undefined) {
    throw invalid('spec', 'give at least one of status, delayMs, dropAfterCommit or resetBeforeCommit')
  }
}

/** Faults armed by a test, consumed in the order they were added by the requests they match. */
export class Faults {
  #armed: ArmedFault[] = []

  add (spec: FaultSpec): void {
    validate(spec)
    this.#armed.push({ ...spec, method: spec.method?.toUpperCase(), remaining: spec.times ?? 1 })
  }

  clear (): void {
    this.#armed = []
  }

  /** Faults still armed. */
  get pending (): number {
    return this.#armed.length
  }

  take (method: string, path: string): FaultSpec | undefined {
    const index = this.#armed.findIndex((fault) =>
      (fault.method === undefined || fault.method === method) && pathMatches(fault.path, path))
    if (index === -1) return undefined
    const fault = this.#armed[index]!
    fault.remaining -= 1
    if (fault.remaining <= 0) this.#armed.splice(index, 1)
    return fault
  }
}

function pathMatches (pattern: string | RegExp | undefined, path: string): boolean {
  if (pattern === undefined) return true
  if (typeof pattern === 'string') return pattern === path
  // A /g or /y pattern remembers where it last matched; every request must be tested from the start.
  pattern.lastIndex = 0
  return pattern.test(path)
}

/** The answer a status fault sends: the given body, or what Chatwoot itself sends with that status. */
export function faultAnswer (fault: FaultSpec): ChatwootAnswer {
  const status = fault.status!
  const own = status === 429
    ? retryLater()
    : status === 404 ? notFound() : status === 401 ? invalidAccessToken() : status === 500 ? internalServerError() : railsError(status)
  const body = fault.body === undefined ? own.body : fault.body
  const contentType = fault.contentType ??
    (fault.body === undefined ? own.contentType : typeof body === 'string' ? 'text/plain' : 'application/json; charset=utf-8')
  // Serialised here, so an object body goes out as JSON whatever content type the test chose.
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
  return new ChatwootAnswer(status, payload, contentType)
}
