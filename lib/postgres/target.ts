import type { PoolConfig } from 'pg'

// Database settings end up in error messages, health pages and log lines. They are masked by
// reading the text, never by asking `new URL` and falling back to the raw string: a password
// holding `#`, `/` or `@`, or a port typo, makes the URL parser misread or refuse the very
// strings that most need masking. When the text cannot be read at all, only its scheme is shown.

export const MASK = '***'
export const UNPARSEABLE = '[unparseable]'

// Names of settings whose value is a secret: password, sslpassword, passphrase, token, sslkey...
// (masking a key file's path as well costs nothing).
const SECRET_NAME = /pass|secret|token|key|pfx/i
// A secret this short cannot be told apart from ordinary words of a message.
const MIN_SECRET_LENGTH = 3

/** Names the server a pool talks to, for error messages and logs, with any password masked. */
export function describeTarget (config: PoolConfig): string {
  if (typeof config.connectionString === 'string') return redactConnectionString(config.connectionString)
  const user = config.user ?? process.env.PGUSER ?? ''
  const host = config.host ?? process.env.PGHOST ?? 'localhost'
  const port = config.port ?? process.env.PGPORT ?? 5432
  const database = config.database ?? process.env.PGDATABASE ?? ''
  return `postgres://${user === '' ? '' : `${user}@`}${host}:${port}/${database}`
}

// pg's own socket form, '/run/postgresql dbname': no password can be in it.
const SOCKET = /^\/[^\s@=:?#]*(?: [^\s@=:?#]+)?$/

/** A connection string with its password masked, whether `new URL` can parse it or not. */
export function redactConnectionString (text: string): string {
  const trimmed = text.trim()
  const url = splitUrl(trimmed)
  if (url !== undefined) return maskUrl(url)
  if (/^\w+\s*=/.test(trimmed)) return maskKeywords(trimmed) ?? UNPARSEABLE
  if (SOCKET.test(trimmed)) return trimmed
  return UNPARSEABLE
}

/**
 * `database` as it may be shown: a connection string masked, a PoolConfig with its password
 * (and TLS key material) replaced by `redacted`.
 */
export function redactDatabase (value: unknown, redacted = '[redacted]'): unknown {
  if (typeof value === 'string') return redactConnectionString(value)
  if (!isPlainObject(value)) return value
  const copy: Record<string, unknown> = {}
  for (const [name, setting] of Object.entries(value)) {
    if (name === 'connectionString' && typeof setting === 'string') copy[name] = redactConnectionString(setting)
    else if (SECRET_NAME.test(name) && setting !== undefined) copy[name] = redacted
    else if (name === 'ssl' && isPlainObject(setting)) copy[name] = redactDatabase(setting, redacted)
    else copy[name] = setting
  }
  return copy
}

/**
 * The secrets a database setting carries, as written, percent-decoded and encoded, so a message from a
 * driver or a server that repeats part of the setting can be scrubbed of them.
 */
export function secretsOf (source: unknown): string[] {
  const found: string[] = []
  if (typeof source === 'string') collectFromString(source.trim(), found)
  else if (isPlainObject(source)) {
    for (const [name, setting] of Object.entries(source)) {
      if (name === 'connectionString' && typeof setting === 'string') collectFromString(setting.trim(), found)
      else if (SECRET_NAME.test(name) && typeof setting === 'string') found.push(setting)
    }
  }
  const unique = new Set<string>()
  for (const secret of found) {
    for (const form of [secret, decoded(secret), encodeURIComponent(decoded(secret))]) if (form.length >= MIN_SECRET_LENGTH) unique.add(form)
  }
  // Longest first, so a secret containing another is replaced whole.
  return [...unique].sort((a, b) => b.length - a.length)
}

/** `text` with every secret replaced by the mask. */
export function scrubSecrets (text: string, secrets: readonly string[]): string {
  let scrubbed = text
  for (const secret of secrets) scrubbed = scrubbed.split(secret).join(MASK)
  return scrubbed
}

export function mentionsSecret (text: string, secrets: readonly string[]): boolean {
  return secrets.some((secret) => text.includes(secret))
}

interface UrlParts {
  scheme: string
  /** Everything between `://` and the last `@`; undefined when there is no `@`. */
  userinfo: string | undefined
  user: string
  /** The rest, from host on. */
  rest: string
}

function splitUrl (text: string): UrlParts | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)
  if (scheme === null) return undefined
  const afterScheme = text.slice(scheme[0].length)
  // The password may hold '/', '?', '#' or '@' unencoded: the userinfo ends at the LAST '@'.
  const at = afterScheme.lastIndexOf('@')
  const userinfo = at === -1 ? undefined : afterScheme.slice(0, at)
  return {
    scheme: scheme[1] as string,
    userinfo,
    user: userinfo === undefined ? '' : (/^[^:@/?#]*/.exec(userinfo) as RegExpExecArray)[0],
    rest: at === -1 ? afterScheme : afterScheme.slice(at + 1)
  }
}

// host[:port], a bracketed IPv6 address, or several of them separated by commas.
const HOST = String.raw`(?:[\w.~%-]+|\[[\w.:%]+\])(?::\d*)?`
const AUTHORITY = new RegExp(`^(?:${HOST}(?:,${HOST})*)?$`)

function maskUrl ({ scheme, userinfo, user, rest }: UrlParts): string {
  const authority = (/^[^/?#]*/.exec(rest) as RegExpExecArray)[0]
  // Anything else where the host belongs ('u:secret' without its '@', stray spaces) may be a password.
  if (!AUTHORITY.test(authority)) return `${scheme}://${UNPARSEABLE}`
  const shownUser = userinfo === undefined ? '' : userinfo === user ? `${user}@` : `${user}:${MASK}@`
  return `${scheme}://${shownUser}${maskQuery(rest)}`
}

// ?password=...&sslpassword=...: a value runs to the next '&' (a '#' in it is the secret's, not a fragment).
function maskQuery (text: string): string {
  const query = text.indexOf('?')
  if (query === -1) return text
  const masked = text.slice(query).replace(/([?&])([^=&]*)=([^&]*)/g, (whole, separator: string, name: string) =>
    SECRET_NAME.test(decoded(name)) ? `${separator}${name}=${MASK}` : whole)
  return text.slice(0, query) + masked
}

// libpq's keyword form: `host=h password='it''s' dbname=d`. Undefined when the text is not only that.
const KEYWORD = /\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s']*)\s*/y

function keywordPairs (text: string): Array<[string, string]> | undefined {
  const pairs: Array<[string, string]> = []
  KEYWORD.lastIndex = 0
  while (KEYWORD.lastIndex < text.length) {
    const match = KEYWORD.exec(text)
    if (match === null) return undefined
    pairs.push([match[1] as string, match[2] as string])
  }
  return pairs
}

function maskKeywords (text: string): string | undefined {
  return keywordPairs(text)?.map(([name, value]) => `${name}=${SECRET_NAME.test(name) ? MASK : value}`).join(' ')
}

function collectFromString (text: string, found: string[]): void {
  const url = splitUrl(text)
  if (url !== undefined) {
    if (url.userinfo !== undefined && url.userinfo !== url.user) found.push(url.userinfo.slice(url.user.length + 1))
    // 'postgres://u:secret' lost its '@': an authority that is no host list may be a password.
    const authority = (/^[^/?#]*/.exec(url.rest) as RegExpExecArray)[0]
    if (!AUTHORITY.test(authority)) found.push(authority, authority.slice(authority.indexOf(':') + 1))
    for (const match of url.rest.matchAll(/[?&]([^=&]*)=([^&]*)/g)) {
      if (SECRET_NAME.test(decoded(match[1] as string))) found.push(match[2] as string)
    }
    return
  }
  const pairs = keywordPairs(text)
  if (pairs !== undefined) {
    for (const [name, value] of pairs) {
      const unquoted = value.replace(/^'|'$/g, '')
      if (SECRET_NAME.test(name)) found.push(value, unquoted, unquoted.replace(/\\(.)/g, '$1'))
    }
    return
  }
  if (SOCKET.test(text)) return
  // Unreadable: any part of it may be the password. The whole, and what sits between ':' and '@'.
  found.push(text)
  const colon = text.indexOf(':')
  const at = text.lastIndexOf('@')
  if (colon !== -1 && at > colon) found.push(text.slice(colon + 1, at))
}

function decoded (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
