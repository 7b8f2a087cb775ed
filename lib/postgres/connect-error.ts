import { inspect } from 'node:util'
import pg from 'pg'
import { PgConnectError } from '../errors.js'
import { mentionsSecret, scrubSecrets, UNPARSEABLE } from './target.js'

/**
 * A failure to reach an instance's database, coded and safe to log: the target is masked, and
 * the driver's or server's reason is scrubbed of the setting's secrets (a misread connection
 * string can come back as a host or database name holding part of the password).
 */
export function connectError (name: string, target: string, secrets: readonly string[], cause: unknown): Error {
  const { message, code } = (cause ?? {}) as { message?: unknown, code?: unknown }
  // A setting that cannot be read was read somehow by the driver: which of its parts a message
  // repeats (a database name 'idden@host' from 'u:hidden@host') cannot be known, so none is kept.
  const unreadable = target.includes(UNPARSEABLE)
  const reason = unreadable
    ? `the database setting cannot be read as a connection string${typeof code === 'string' ? ` (${code})` : ''}`
    : scrubSecrets(typeof message === 'string' ? message : String(cause), secrets)
  return new PgConnectError(name, target, reason, {
    sqlState: typeof code === 'string' ? code : undefined,
    cause: unreadable ? undefined : safeCause(cause, secrets)
  })
}

// A URL parse error carries the raw connection string in `input`, and any other error may
// repeat a secret in its text or properties: such a cause stays out of the chain.
function safeCause (cause: unknown, secrets: readonly string[]): Error | undefined {
  if (!(cause instanceof Error) || 'input' in cause) return undefined
  return mentionsSecret(inspect(cause, { depth: 4 }), secrets) ? undefined : cause
}

/** A statement error leaves the connection usable; a FATAL one or a socket error does not. */
export function isStatementError (error: Error): boolean {
  return error instanceof pg.DatabaseError && error.severity !== 'FATAL' && error.severity !== 'PANIC'
}
