import type { PoolConfig } from 'pg'

// Names the server a pool talks to, for error messages and logs, with any password masked.
export function describeTarget (config: PoolConfig): string {
  if (typeof config.connectionString === 'string') return redactConnectionString(config.connectionString)
  const user = config.user ?? process.env.PGUSER ?? ''
  const host = config.host ?? process.env.PGHOST ?? 'localhost'
  const port = config.port ?? process.env.PGPORT ?? 5432
  const database = config.database ?? process.env.PGDATABASE ?? ''
  return `postgres://${user === '' ? '' : `${user}@`}${host}:${port}/${database}`
}

export function redactConnectionString (text: string): string {
  try {
    const url = new URL(text)
    if (url.password !== '') url.password = '***'
    for (const key of [...url.searchParams.keys()]) {
      if (/pass|secret|key/i.test(key)) url.searchParams.set(key, '***')
    }
    return url.toString()
  } catch {
    // libpq's keyword form: host=... password=...
    return text.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***')
  }
}
