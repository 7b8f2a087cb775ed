import { inspect } from 'node:util'
import type { PoolConfig } from 'pg'
import type { RetryOptions } from '../client/retry-policy.js'
import { retryPolicy } from '../client/retry-policy.js'
import { InstanceConfigInvalidError } from '../errors.js'
import { redactDatabase } from '../postgres/target.js'

/** What a host app's `resolve(name)` returns for one tenant. */
export interface InstanceConfig {
  chatwoot: {
    /** Base URL of the Chatwoot server, e.g. `https://chat.example.com`. */
    url: string
    /** Integer, or a string of digits as databases often return them. */
    accountId: number | string
    inboxId: number | string
    /** The `api_access_token` of a Chatwoot user or agent bot. */
    token: string
  }
  /** The instance's own Chatwoot database: a connection string or a node-postgres pool config. */
  database?: string | PoolConfig
  /** Overrides of the chatwootClient plugin's `timeout` and `retry` for this instance. */
  client?: ClientOverrides
}

export interface ClientOverrides {
  timeout?: number
  retry?: RetryOptions
}

export interface ChatwootSettings {
  /** Normalised: no trailing slash, no query, no fragment. */
  readonly url: string
  readonly accountId: number
  readonly inboxId: number
  readonly token: string
}

/** A validated, frozen instance config, as `chatwootInstances.get(name)` answers it. */
export interface ResolvedInstance {
  readonly name: string
  readonly chatwoot: ChatwootSettings
  readonly database?: string | PoolConfig
  readonly client?: Readonly<ClientOverrides>
}

const REDACTED = '[redacted]'

export function validateInstanceConfig (name: string, config: unknown): ResolvedInstance {
  const invalid = (field: string, problem: string) =>
    Object.assign(new InstanceConfigInvalidError(name, field, problem), { instance: name, field })

  if (!isRecord(config)) throw invalid('config', `must be an object, got ${kindOf(config)}`)
  const { chatwoot, database, client } = config
  if (!isRecord(chatwoot)) throw invalid('chatwoot', `must be an object, got ${kindOf(chatwoot)}`)
  const { url, accountId, inboxId, token } = chatwoot

  const settings = {
    url: chatwootUrl(url, invalid),
    accountId: positiveInteger(accountId, 'chatwoot.accountId', invalid),
    inboxId: positiveInteger(inboxId, 'chatwoot.inboxId', invalid),
    token: apiToken(token, invalid)
  }
  // Host apps log what they resolved; the token must not follow the object into a log line.
  Object.defineProperties(settings, {
    toJSON: { value: () => ({ ...settings, token: REDACTED }) },
    [inspect.custom]: { value: () => ({ ...settings, token: REDACTED }) }
  })

  const resolved: { name: string, chatwoot: ChatwootSettings, database?: string | PoolConfig, client?: ClientOverrides } = {
    name,
    chatwoot: Object.freeze(settings)
  }
  if (database !== undefined && database !== null) {
    resolved.database = databaseSettings(database, invalid)
  }
  if (client !== undefined && client !== null) {
    resolved.client = clientOverrides(client, invalid)
  }
  // Nor the database's password: a connection string is masked, a PoolConfig's password redacted.
  const shown = () => (resolved.database === undefined ? { ...resolved } : { ...resolved, database: redactDatabase(resolved.database, REDACTED) })
  Object.defineProperties(resolved, {
    toJSON: { value: shown },
    [inspect.custom]: { value: shown }
  })
  return Object.freeze(resolved)
}

type Invalid = (field: string, problem: string) => Error

function chatwootUrl (value: unknown, invalid: Invalid): string {
  // The value is never echoed: a URL can carry credentials (`https://user:secret@host`).
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid('chatwoot.url', `must be a non-empty string, got ${kindOf(value)}`)
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalid('chatwoot.url', `must be an absolute http(s) URL, got a string of ${value.length} characters that is not one`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid('chatwoot.url', `must use http or https, got ${url.protocol}`)
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid('chatwoot.url', 'must not carry credentials; put the token in chatwoot.token')
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

function positiveInteger (value: unknown, field: string, invalid: Invalid): number {
  const number = typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) {
    const shown = typeof value === 'number' || (typeof value === 'string' && value.length <= 20)
      ? JSON.stringify(value)
      : kindOf(value)
    throw invalid(field, `must be a positive integer, got ${shown}`)
  }
  return number
}

function apiToken (value: unknown, invalid: Invalid): string {
  if (typeof value !== 'string') throw invalid('chatwoot.token', `must be a string, got ${kindOf(value)}`)
  if (value.trim() === '') throw invalid('chatwoot.token', 'must not be empty')
  if (/[\r\n]/.test(value)) throw invalid('chatwoot.token', 'must not contain line breaks')
  return value
}

function databaseSettings (value: unknown, invalid: Invalid): string | PoolConfig {
  if (typeof value === 'string') {
    if (value.trim() === '') throw invalid('database', 'must not be an empty string')
    return value
  }
  if (isRecord(value)) return value as PoolConfig
  throw invalid('database', `must be a connection string or a pg.PoolConfig object, got ${kindOf(value)}`)
}

function clientOverrides (value: unknown, invalid: Invalid): Readonly<ClientOverrides> {
  if (!isRecord(value)) throw invalid('client', `must be an object, got ${kindOf(value)}`)
  const { timeout, retry } = value
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) {
    throw invalid('client.timeout', `must be a number of milliseconds > 0, got ${kindOf(timeout)}`)
  }
  if (retry !== undefined) {
    if (!isRecord(retry)) throw invalid('client.retry', `must be an object, got ${kindOf(retry)}`)
    try {
      retryPolicy(retry)
    } catch (error) {
      throw invalid('client.retry', (error as Error).message.replace(/^[^:]*: /, ''))
    }
  }
  return Object.freeze({ timeout: timeout as number | undefined, retry: retry === undefined ? undefined : Object.freeze({ ...retry }) as RetryOptions })
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function kindOf (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string'
  return `a value of type ${typeof value}`
}
