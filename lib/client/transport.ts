import { channel } from 'node:diagnostics_channel'
import type { IncomingHttpHeaders } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { Dispatcher } from 'undici'
import { type CallDescription, codeFor, fromTransport } from './classify.js'
import type { ChatwootError } from './errors.js'
import { type Deadlines, type Expiring } from './deadlines.js'
import { multipartBody } from './multipart.js'
import type { OperationName, RequestSpec } from './operations.js'

// Mechanism only: one HTTP attempt, bounded in time, published to diagnostics. Whether to try again, and
// what a status means for the caller, is the call loop's business (policy).

/** Every HTTP attempt is published here: `{ instance, operation, method, path, statusCode, durationMs, attempt, error }`. */
export const CLIENT_CHANNEL = 'fastify-chatwoot:client'
const calls = channel(CLIENT_CHANNEL)

export interface ClientCallEvent {
  instance: string | undefined
  operation: OperationName
  method: string
  path: string
  /** Chatwoot's status; undefined when no answer came. */
  statusCode: number | undefined
  durationMs: number
  attempt: number
  /** The error code of a failed attempt. */
  error: string | undefined
}

/** Chatwoot's answer, whatever its status: everything the caller needs travels in it (Retry-After in `headers`). */
export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  /** Parsed when JSON, text otherwise, undefined when empty. */
  body: unknown
}

export interface TransportOptions {
  origin: string
  dispatcher: Dispatcher
  token: string
  instance: string | undefined
  deadlines: Deadlines
}

/** Sends one attempt; rejects only with a ChatwootError for a failure without an answer (network, timeout). */
export function send (options: TransportOptions, operation: OperationName, spec: RequestSpec, path: string, attempt: number): Promise<Answer> {
  const headers: Record<string, string> = { api_access_token: options.token, accept: 'application/json' }
  let body: Dispatcher.DispatchOptions['body']
  if (spec.multipart !== undefined) {
    // Built again for every attempt: a stream consumed by a failed attempt is never re-sent.
    const multipart = multipartBody(spec.multipart.fields, spec.multipart.files)
    headers['content-type'] = multipart.contentType
    body = multipart.body
  } else if (spec.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(spec.json)
  }
  return new Promise((resolve, reject) => {
    const handler = new Attempt(options, operation, spec.method, path, attempt, resolve, reject)
    options.deadlines.add(handler)
    try {
      options.dispatcher.dispatch({ origin: options.origin, method: spec.method, path: path + queryString(spec.query), headers, body }, handler)
    } catch (error) {
      handler.fail(error)
    }
  })
}

// The cause of a timeout, and the reason undici is given to abort the request.
const timedOut = () => new Error('the attempt took longer than the client\'s timeout')

/**
 * undici's handler for one attempt and its entry in the client's deadlines. Collects the answer as
 * buffers (no stream per response), and when its deadline comes it settles at once and aborts the
 * request, queued or under way, headers or body.
 */
class Attempt implements Dispatcher.DispatchHandler, Expiring {
  deadline = 0
  next: Expiring | undefined = undefined
  settled = false
  #controller: Dispatcher.DispatchController | undefined
  #status: number | undefined
  #headers: IncomingHttpHeaders = {}
  #chunks: Buffer[] = []
  readonly #started = performance.now()

  constructor (
    readonly options: TransportOptions,
    readonly operation: OperationName,
    readonly method: string,
    readonly path: string,
    readonly attempt: number,
    readonly resolve: (answer: Answer) => void,
    readonly reject: (error: ChatwootError) => void
  ) {}

  onRequestStart (controller: Dispatcher.DispatchController): void {
    // Expired while queued for a connection: abort before a byte is written.
    if (this.settled) controller.abort(timedOut())
    else this.#controller = controller
  }

  onResponseStart (_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.#status = statusCode
    this.#headers = headers
    this.#chunks = []
  }

  onResponseData (_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#chunks.push(chunk)
  }

  onResponseEnd (): void {
    if (this.settled) return
    const text = this.#chunks.length === 1 ? this.#chunks[0]!.toString('utf8') : Buffer.concat(this.#chunks).toString('utf8')
    const status = this.#status!
    const headers = this.#headers
    const body = parseBody(text, headers['content-type'])
    this.#finish(status, status >= 200 && status < 300 ? undefined : codeFor(status, body))
    this.resolve({ status, headers, body })
  }

  onResponseError (_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.fail(error)
  }

  // undici 6's handler interface (a dispatcher a host brings from another undici): undici 7 calls the
  // methods above, since this handler has onRequestStart.
  onConnect (abort: (reason?: Error) => void): void {
    this.onRequestStart({ abort } as unknown as Dispatcher.DispatchController)
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[]): boolean {
    const headers: IncomingHttpHeaders = {}
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase()
      const value = rawHeaders[i + 1]!.toString('latin1')
      const had = headers[name]
      headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]
    }
    this.onResponseStart(undefined as never, statusCode, headers)
    return true
  }

  onData (chunk: Buffer): boolean {
    this.#chunks.push(chunk)
    return true
  }

  onComplete (): void {
    this.onResponseEnd()
  }

  onError (error: Error): void {
    this.fail(error)
  }

  fail (error: unknown, byDeadline = false): void {
    if (this.settled) return
    const failure = fromTransport({ operation: this.operation, method: this.method, path: this.path } satisfies CallDescription, error, byDeadline)
    this.#finish(this.#status, failure.code)
    this.reject(failure)
  }

  expire (): void {
    const controller = this.#controller
    const reason = timedOut()
    this.fail(reason, true)
    controller?.abort(reason)
  }

  #finish (statusCode: number | undefined, error: string | undefined): void {
    this.options.deadlines.settle(this)
    // Kept linked in the deadlines until older attempts settle: hold nothing of the answer.
    this.#controller = undefined
    this.#chunks = []
    this.#headers = {}
    if (calls.hasSubscribers) {
      const { instance } = this.options
      calls.publish({
        instance, operation: this.operation, method: this.method, path: this.path, statusCode, durationMs: performance.now() - this.#started, attempt: this.attempt, error
      } satisfies ClientCallEvent)
    }
  }
}

function queryString (query: RequestSpec['query']): string {
  if (query === undefined) return ''
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value))
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

function parseBody (text: string, contentType: string | string[] | undefined): unknown {
  // A leading BOM, which undici's body.text() dropped, would make JSON.parse fail.
  if (text.charCodeAt(0) === 0xFEFF) text = text.slice(1)
  if (text === '') return undefined
  if (String(contentType ?? '').includes('json')) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return text
}
