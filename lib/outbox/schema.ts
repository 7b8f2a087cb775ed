import { type OutboxPool, transaction } from './db.js'

// The outbox's own schema, versioned: each step runs once, in order, under an advisory lock, so replicas
// that start together wait for one another instead of racing on CREATE (whose IF NOT EXISTS is not safe
// against a concurrent CREATE). A new version appends a step; a released step is never edited.
const STEPS: ReadonlyArray<(schema: string) => string> = [
  (s) => `
    CREATE TABLE ${s}.entries (
      id bigserial PRIMARY KEY,
      instance text NOT NULL,
      -- What the entry is ('message' today; identities and agent replies add kinds) and the lane it waits in.
      kind text NOT NULL DEFAULT 'message',
      lane text NOT NULL,
      -- The lane's sequence, taken under the lane row's lock: commit order per lane.
      seq bigint NOT NULL,
      contact_key text NOT NULL,
      source_id text NOT NULL,
      -- { contact, message } with attachments inline (base64); null once stripped after the delete window.
      payload jsonb,
      payload_hash text NOT NULL,
      payload_bytes integer NOT NULL DEFAULT 0,
      state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'dead')),
      attempts integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      -- Every attempt's target is stored before it posts: a taken-over entry checks there first.
      first_attempt_at timestamptz,
      last_attempt_at timestamptz,
      next_attempt_at timestamptz,
      conversation_id integer,
      message_id bigint,
      delivered_at timestamptz,
      deduplicated boolean,
      -- The delete-window check (a later pass): when the conversation was last seen alive after delivery.
      checked_at timestamptz,
      stripped_at timestamptz,
      last_error_code text,
      last_error text,
      dead_reason text,
      dead_at timestamptz,
      replays integer NOT NULL DEFAULT 0,
      UNIQUE (instance, contact_key, source_id),
      UNIQUE (instance, lane, seq)
    );
    CREATE INDEX entries_queued ON ${s}.entries (instance, lane, seq) WHERE state = 'queued';
    CREATE INDEX entries_dead ON ${s}.entries (id) WHERE state = 'dead';
    CREATE INDEX entries_delivered ON ${s}.entries (delivered_at) WHERE state = 'delivered';

    CREATE TABLE ${s}.lanes (
      instance text NOT NULL,
      lane text NOT NULL,
      next_seq bigint NOT NULL DEFAULT 0,
      queued integer NOT NULL DEFAULT 0,
      -- When the lane's head may next be tried (its backoff, a conversation's minute window, the budget).
      ready_at timestamptz NOT NULL DEFAULT now(),
      -- The lease: a committed row with an expiry on the database's clock, never a held lock.
      lease_owner text,
      lease_until timestamptz,
      served_at timestamptz,
      PRIMARY KEY (instance, lane)
    );
    CREATE INDEX lanes_ready ON ${s}.lanes (ready_at) WHERE queued > 0;

    CREATE TABLE ${s}.instances (
      instance text PRIMARY KEY,
      -- Round-robin across instances: the one served longest ago goes first.
      served_at timestamptz,
      -- A wrong token or account pauses the instance until its settings change, probed every few minutes.
      paused_until timestamptz,
      paused_since timestamptz,
      paused_code text,
      paused_reason text,
      -- sha256 of the settings when paused (never the settings themselves: they hold the token).
      paused_config text
    );

    CREATE TABLE ${s}.budgets (
      origin text PRIMARY KEY,
      window_start timestamptz NOT NULL,
      used integer NOT NULL
    );`,
  // 2: the delete-window check and retention. `redeliveries` counts the times an entry was queued again
  // because its conversation was deleted after delivery; the partial indexes serve the worker's guard
  // before each post (a lane's unchecked deliveries) and the chores (few rows: only those not yet vouched for).
  (s) => `
    ALTER TABLE ${s}.entries ADD COLUMN redeliveries integer NOT NULL DEFAULT 0;
    CREATE INDEX entries_unchecked ON ${s}.entries (instance, lane, seq) WHERE state = 'delivered' AND checked_at IS NULL;
    CREATE INDEX entries_dead_at ON ${s}.entries (dead_at) WHERE state = 'dead';`
]

export const SCHEMA_VERSION = STEPS.length

/** Creates or upgrades the outbox's schema; safe when several replicas run it at once. */
export async function migrate (pool: OutboxPool, schema: string): Promise<{ from: number, to: number }> {
  return transaction(pool, async (db) => {
    // One lock per schema name, held to the end of this transaction.
    await db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fastify-chatwoot-outbox:${schema}`])
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    await db.query(`CREATE TABLE IF NOT EXISTS ${schema}.meta (id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)`)
    const { rows } = await db.query<{ version: number }>(`SELECT version FROM ${schema}.meta WHERE id = 1`)
    const from = rows[0]?.version ?? 0
    if (from > SCHEMA_VERSION) {
      // A newer replica migrated further: this one's queries may not fit, but the tables are there.
      return { from, to: from }
    }
    for (let step = from; step < SCHEMA_VERSION; step++) await db.query(STEPS[step]!(schema))
    await db.query(`INSERT INTO ${schema}.meta (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = $1`, [SCHEMA_VERSION])
    return { from, to: SCHEMA_VERSION }
  })
}
