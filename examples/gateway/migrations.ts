import type { PostgresDb } from '@fastify/postgres'

// Each migration runs once, in order, recorded in schema_migrations. An advisory lock makes two
// gateways starting together take turns instead of both creating the table.
const MIGRATIONS: Array<{ id: number, sql: string }> = [
  {
    id: 1,
    sql: `CREATE TABLE instances (
            name         text PRIMARY KEY,
            chatwoot_url text NOT NULL,
            account_id   integer NOT NULL CHECK (account_id > 0),
            inbox_id     integer NOT NULL CHECK (inbox_id > 0),
            token        text NOT NULL,
            database_url text,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now()
          )`
  },
  {
    // The secret Chatwoot signs an instance's webhooks with, and the stand-in sender's record of the
    // agents' replies (examples/gateway/reply-sender.ts): one row per reply, every call counted.
    id: 2,
    sql: `ALTER TABLE instances ADD COLUMN webhook_secret text;
          CREATE TABLE replies (
            idempotency_key text PRIMARY KEY,
            instance        text NOT NULL,
            conversation_id integer NOT NULL,
            message_id      integer NOT NULL,
            content         text,
            sends           integer NOT NULL DEFAULT 0,
            failures        integer NOT NULL DEFAULT 0,
            last_error      text,
            first_call_at   timestamptz NOT NULL DEFAULT now(),
            sent_at         timestamptz
          );
          CREATE INDEX replies_instance ON replies (instance, first_call_at)`
  }
]

const LOCK = 72_467_001

export async function migrate (pg: PostgresDb): Promise<number[]> {
  const client = await pg.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK])
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (id integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
      const { rows } = await client.query<{ id: number }>('SELECT id FROM schema_migrations')
      const done = new Set(rows.map((row) => row.id))
      const applied: number[] = []
      for (const migration of MIGRATIONS) {
        if (done.has(migration.id)) continue
        await client.query('BEGIN')
        try {
          await client.query(migration.sql)
          await client.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id])
          await client.query('COMMIT')
        } catch (error) {
          await client.query('ROLLBACK')
          throw error
        }
        applied.push(migration.id)
      }
      return applied
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK])
    }
  } finally {
    client.release()
  }
}
