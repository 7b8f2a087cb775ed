import type { PoolConfig } from 'pg'

/** A database setting holding a password, and every form in which that password must never be shown. */
export interface SecretShape {
  name: string
  database: string | PoolConfig
  secrets: string[]
  /** Parts of the password a driver may repeat when it misreads the setting: they must not be shown either. */
  fragments?: string[]
  /** Whether the masker can read it (and so shows the host), or shows only `[unparseable]`. */
  readable: boolean
}

// Every secret is a word of its own, so one shape's password is never part of another's text.
// Hosts are 127.0.0.1 (nothing on port 1, or a server that refuses), so the shapes fail fast.
export const SECRET_SHAPES: SecretShape[] = [
  { name: '# in the password', database: 'postgres://fcw:pa#ss-Amber@127.0.0.1:5432/db', secrets: ['pa#ss-Amber'], readable: true },
  { name: '@ in the password', database: 'postgres://fcw:pa@ss-Birch@127.0.0.1:5432/db', secrets: ['pa@ss-Birch', 'pa%40ss-Birch'], readable: true },
  { name: '/ in the password', database: 'postgres://fcw:pa/ss-Cedar@127.0.0.1:5432/db', secrets: ['pa/ss-Cedar'], readable: true },
  { name: 'a port typo', database: 'postgres://fcw:Dahlia-pw@127.0.0.1:99999/db', secrets: ['Dahlia-pw'], readable: true },
  { name: 'no scheme', database: 'fcw:Elder-pw@127.0.0.1:5432/db', secrets: ['Elder-pw'], fragments: ['lder-pw'], readable: false },
  { name: 'libpq keywords', database: 'host=127.0.0.1 port=1 user=fcw password=Fennel-pw dbname=db', secrets: ['Fennel-pw'], readable: true },
  { name: 'libpq keywords, quoted', database: "host=127.0.0.1 password='Gin ger\\'s-pw' dbname=db", secrets: ["Gin ger\\'s-pw", "Gin ger's-pw"], readable: true },
  { name: 'an empty user', database: 'postgresql://:Hazel-pw@127.0.0.1:1', secrets: ['Hazel-pw'], readable: true },
  { name: 'percent-encoded', database: 'postgres://fcw:Ivy%2Fp%40w%23d@127.0.0.1:1/db', secrets: ['Ivy%2Fp%40w%23d', 'Ivy/p@w#d'], readable: true },
  { name: 'an IPv6 host', database: 'postgres://fcw:Juniper-pw@[::1]:1/db', secrets: ['Juniper-pw'], readable: true },
  { name: 'the password in the query', database: 'postgres://fcw@127.0.0.1:1/db?password=Kale-pw&sslmode=disable', secrets: ['Kale-pw'], readable: true },
  { name: 'whitespace around and inside', database: '  postgres://fcw:Lau rel-pw@127.0.0.1:1/db \n', secrets: ['Lau rel-pw', 'Lau%20rel-pw'], readable: true },
  { name: 'a colon but no @', database: 'postgres://fcw:Maple-pw', secrets: ['Maple-pw'], readable: false },
  { name: 'an unclosed IPv6 bracket', database: 'postgres://fcw:Nutmeg-pw@[::1/db', secrets: ['Nutmeg-pw'], readable: false },
  { name: 'nothing but the password', database: 'Olive-pw', secrets: ['Olive-pw'], readable: false },
  { name: 'a PoolConfig object', database: { host: '127.0.0.1', port: 1, user: 'fcw', password: 'Pepper-pw', database: 'db' }, secrets: ['Pepper-pw'], readable: true },
  {
    name: 'a PoolConfig with an unparseable connectionString',
    database: { connectionString: 'postgres://fcw:qu#ince-pw@127.0.0.1:5432/db', application_name: 'fcw-secret-shape' },
    secrets: ['qu#ince-pw'],
    readable: true
  }
]
