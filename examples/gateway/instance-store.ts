import type { PostgresDb } from '@fastify/postgres'
import type { InstanceConfig } from 'fastify-chatwoot'

/** What POST /instances takes, as the JSON schema checked it. */
export interface NewInstance {
  name: string
  chatwootUrl: string
  accountId: number
  inboxId: number
  token: string
  databaseUrl?: string
  /** The secret Chatwoot signs this inbox's webhooks with (Chatwoot 4.10+). */
  webhookSecret?: string
}

interface InstanceRow {
  chatwoot_url: string
  account_id: number
  inbox_id: number
  token: string
  database_url: string | null
  webhook_secret: string | null
}

/** chatwootInstances' `resolve`: one row of the gateway's own table, or undefined (the plugin answers 404). */
export function instanceReader (pg: PostgresDb) {
  return async function readInstance (name: string): Promise<InstanceConfig | undefined> {
    const { rows } = await pg.query<InstanceRow>(
      'SELECT chatwoot_url, account_id, inbox_id, token, database_url, webhook_secret FROM instances WHERE name = $1', [name])
    const row = rows[0]
    if (row === undefined) return undefined
    return {
      chatwoot: {
        url: row.chatwoot_url,
        accountId: row.account_id,
        inboxId: row.inbox_id,
        token: row.token,
        ...(row.webhook_secret === null ? {} : { webhookSecret: row.webhook_secret })
      },
      ...(row.database_url === null ? {} : { database: row.database_url })
    }
  }
}

/** Inserts or replaces `name`; true when it was new. */
export async function saveInstance (pg: PostgresDb, instance: NewInstance): Promise<boolean> {
  const { rows } = await pg.query<{ inserted: boolean }>(
    `INSERT INTO instances (name, chatwoot_url, account_id, inbox_id, token, database_url, webhook_secret)
          VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (name) DO UPDATE
          SET chatwoot_url = excluded.chatwoot_url, account_id = excluded.account_id, inbox_id = excluded.inbox_id,
              token = excluded.token, database_url = excluded.database_url,
              webhook_secret = excluded.webhook_secret, updated_at = now()
     RETURNING (xmax = 0) AS inserted`,
    [instance.name, instance.chatwootUrl, instance.accountId, instance.inboxId, instance.token, instance.databaseUrl ?? null, instance.webhookSecret ?? null])
  return rows[0]?.inserted === true
}
