import { inspect } from 'node:util'
import type { PoolConfig } from 'pg'
import { InstanceConfigInvalidError } from '../errors.js'
import {
  apiToken, durationMs, httpUrl, type Invalid, isRecord, kindOf, positiveInteger, RENAMED_RETRY_OPTIONS, type RetryOptions, retryPolicy,
  withRenamedOptions
} from '../options.js'
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
    /** The secret Chatwoot signs this instance's webhooks with (chatwootWebhooks checks it). */
    webhookSecret?: string
  }
  /** The instance's own Chatwoot database: a connection string or a node-postgres pool config. */
  database?: string | PoolConfig
  /** Overrides of the chatwootClient plugin's `timeoutMs` and `retry` for this instance. */
  client?: ClientOverrides
}

export interface ClientOverrides {
  timeoutMs?: number
  retry?: RetryOptions
  /** @deprecated use timeoutMs (read as it until 1.0). */
  timeout?: number
}

export interface ChatwootSettings {
  /** Normalised: no trailing slash, no query, no fragment. */
  readonly url: string
  readonly accountId: number
  readonly inboxId: number
  readonly token: string
  readonly webhookSecret?: string
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
  const invalid = (field: string, problem: string) => new InstanceConfigInvalidError(name, field, problem)

  if (!isRecord(config)) throw invalid('config', `must be an object, got ${kindOf(config)}`)
  const { chatwoot, database, client } = config
  if (!isRecord(chatwoot)) throw invalid('chatwoot', `must be an object, got ${kindOf(chatwoot)}`)
  const { url, accountId, inboxId, token, webhookSecret } = chatwoot

  const settings = {
    url: chatwootUrl(url, invalid),
    accountId: positiveInteger(accountId, 'chatwoot.accountId', invalid, { digits: true }),
    inboxId: positiveInteger(inboxId, 'chatwoot.inboxId', invalid, { digits: true }),
    token: apiToken(token, 'chatwoot.token', invalid),
    ...(webhookSecret === undefined || webhookSecret === null ? {} : { webhookSecret: apiToken(webhookSecret, 'chatwoot.webhookSecret', invalid) })
  }
  // Host apps log what they resolved; neither secret may follow the object into a log line.
  const redacted = () => ({ ...settings, token: REDACTED, ...(settings.webhookSecret === undefined ? {} : { webhookSecret: REDACTED }) })
  Object.defineProperties(settings, {
    toJSON: { value: redacted },
    [inspect.custom]: { value: redacted }
  })

  const resolved: { name: string, chatwoot: ChatwootSettings, database?: string | PoolConfig, client?: ClientOverrides } = {
    name,
    chatwoot: Object.freeze(settings)
  }
  if (database !== undefined && database !== null) {
    resolved.database = databaseSettings(database, invalid)
  }
  if (client !== undefined && client !== null) {
    resolved.client = clientOverrides(client, invalid, `instance "${name}"`)
  }
  // Nor the database's password: a connection string is masked, a PoolConfig's password redacted.
  const shown = () => (resolved.database === undefined ? { ...resolved } : { ...resolved, database: redactDatabase(resolved.database, REDACTED) })
  Object.defineProperties(resolved, {
    toJSON: { value: shown },
    [inspect.custom]: { value: shown }
  })
  return Object.freeze(resolved)
}

function chatwootUrl (value: unknown, invalid: Invalid): string {
  const url = httpUrl(value, 'chatwoot.url', invalid)
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

function databaseSettings (value: unknown, invalid: Invalid): string | PoolConfig {
  if (typeof value === 'string') {
    if (value.trim() === '') throw invalid('database', 'must not be an empty string')
    return value
  }
  if (isRecord(value)) return value as PoolConfig
  throw invalid('database', `must be a connection string or a pg.PoolConfig object, got ${kindOf(value)}`)
}

function clientOverrides (value: unknown, invalid: Invalid, where: string): Readonly<ClientOverrides> {
  if (!isRecord(value)) throw invalid('client', `must be an object, got ${kindOf(value)}`)
  // Old names warned of at every resolution of a config that still uses them: the host's resolve() gives them.
  const { timeoutMs, retry: given } = withRenamedOptions(value, { timeout: 'timeoutMs' }, `${where} client`)
  if (timeoutMs !== undefined) durationMs(timeoutMs, 'client.timeoutMs', invalid)
  let retry: RetryOptions | undefined
  if (given !== undefined) {
    if (!isRecord(given)) throw invalid('client.retry', `must be an object, got ${kindOf(given)}`)
    retry = withRenamedOptions(given, RENAMED_RETRY_OPTIONS, `${where} client.retry`)
    try {
      retryPolicy(retry)
    } catch (error) {
      throw invalid('client.retry', (error as Error).message.replace(/^[^:]*: /, ''))
    }
  }
  return Object.freeze({ timeoutMs: timeoutMs as number | undefined, retry: retry === undefined ? undefined : Object.freeze(retry) })
}
