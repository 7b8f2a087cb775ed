import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { one, type Queryable, transaction } from './sql.js'

export interface Principal {
  readonly type: 'User' | 'AgentBot'
  readonly id: number
  readonly name: string
  /** Account id -> role: 1 administrator, 0 agent; a bot's own account with role 0. */
  readonly accounts: ReadonlyMap<number, number>
}

export interface InboxRow {
  id: number
  channel_id: number
  account_id: number
  name: string
  channel_type: string
  lock_to_single_conversation: boolean
  allow_messages_after_resolved: boolean
  /** The API channel's identifier (null for other channels). */
  inbox_identifier?: string | null
  /** Whether an agent bot is connected and active (read with the inbox where it matters). */
  active_bot?: boolean
}

export interface NewInbox {
  name?: string
  channelType?: string
  lockToSingleConversation?: boolean
  /** Connects the account's agent bot to the inbox, active. */
  activeBot?: boolean
}

export interface CreatedAccount {
  accountId: number
  inboxId: number
  /** An administrator's token. */
  token: string
  /** An agent bot's token: only the endpoints Chatwoot opens to bots accept it. */
  botToken: string
}

// has_secure_token makes 24 characters; base64url of 18 bytes has the same length and alphabet class.
const newToken = () => randomBytes(18).toString('base64url')

export async function createAccount (pool: pg.Pool, inbox: NewInbox): Promise<CreatedAccount> {
  return transaction(pool, async (client) => {
    const account = await one<{ id: number }>(client, "INSERT INTO accounts (name) VALUES ('') RETURNING id", [])
    const accountId = account!.id
    await client.query('UPDATE accounts SET name = $2 WHERE id = $1', [accountId, `Simulated account ${accountId}`])
    const user = await one<{ id: number }>(client,
      "INSERT INTO users (name, email) VALUES ('Simulator Admin', $1) RETURNING id", [`admin+${accountId}@simulator.test`])
    await client.query('INSERT INTO account_users (account_id, user_id, role) VALUES ($1, $2, 1)', [accountId, user!.id])
    const bot = await one<{ id: number }>(client,
      "INSERT INTO agent_bots (name, account_id) VALUES ('Simulator Bot', $1) RETURNING id", [accountId])
    const token = newToken()
    const botToken = newToken()
    await client.query(
      "INSERT INTO access_tokens (owner_type, owner_id, token) VALUES ('User', $1, $2), ('AgentBot', $3, $4)",
      [user!.id, token, bot!.id, botToken])
    const inboxId = await insertInbox(client, accountId, inbox)
    return { accountId, inboxId, token, botToken }
  })
}

export async function createInbox (pool: pg.Pool, accountId: number, inbox: NewInbox): Promise<number> {
  return transaction(pool, (client) => insertInbox(client, accountId, inbox))
}

async function insertInbox (client: Queryable, accountId: number, inbox: NewInbox): Promise<number> {
  const { name = 'API inbox', channelType = 'Channel::Api', lockToSingleConversation = false, activeBot = false } = inbox
  const channel = await one<{ id: number }>(client, 'INSERT INTO channel_api (account_id) VALUES ($1) RETURNING id', [accountId])
  const row = await one<{ id: number }>(client,
    `INSERT INTO inboxes (channel_id, account_id, name, channel_type, lock_to_single_conversation)
     VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [channel!.id, accountId, name, channelType, lockToSingleConversation])
  if (activeBot) {
    await client.query(
      `INSERT INTO agent_bot_inboxes (inbox_id, agent_bot_id, account_id)
       SELECT $1, id, $2::int FROM agent_bots WHERE account_id = $2::int ORDER BY id LIMIT 1`, [row!.id, accountId])
  }
  return row!.id
}

/** Account#status: a suspended account answers every call with a 401. */
export async function setAccountSuspended (db: Queryable, accountId: number, suspended: boolean): Promise<void> {
  await db.query('UPDATE accounts SET status = $2, updated_at = utc_now() WHERE id = $1', [accountId, suspended ? 1 : 0])
}

export async function findPrincipal (db: Queryable, token: string): Promise<Principal | undefined> {
  const owner = await one<{ owner_type: 'User' | 'AgentBot', owner_id: string, name: string, bot_account: number | null }>(db,
    `SELECT t.owner_type, t.owner_id, coalesce(u.name, b.name) AS name, b.account_id::int AS bot_account
       FROM access_tokens t
       LEFT JOIN users u ON t.owner_type = 'User' AND u.id = t.owner_id
       LEFT JOIN agent_bots b ON t.owner_type = 'AgentBot' AND b.id = t.owner_id
      WHERE t.token = $1`, [token])
  if (owner === undefined) return undefined
  const accounts = new Map<number, number>()
  if (owner.owner_type === 'AgentBot') {
    // A bot reaches its own account and every account where one of its inboxes is.
    if (owner.bot_account !== null) accounts.set(owner.bot_account, 0)
    const { rows } = await db.query<{ account_id: number }>(
      'SELECT DISTINCT account_id::int FROM agent_bot_inboxes WHERE agent_bot_id = $1', [owner.owner_id])
    for (const row of rows) accounts.set(row.account_id, 0)
  } else {
    const { rows } = await db.query<{ account_id: number, role: number }>(
      'SELECT account_id::int, role FROM account_users WHERE user_id = $1', [owner.owner_id])
    for (const row of rows) accounts.set(row.account_id, row.role)
  }
  return { type: owner.owner_type, id: Number(owner.owner_id), name: owner.name, accounts }
}

/** Undefined when there is no such account; else whether it is suspended. */
export async function accountSuspended (db: Queryable, accountId: number): Promise<boolean | undefined> {
  const row = await one<{ status: number | null }>(db, 'SELECT status FROM accounts WHERE id = $1', [accountId])
  return row === undefined ? undefined : row.status === 1
}

/** The inbox row of `i` as JSON, with whether an active agent bot is connected to it. */
export const INBOX_WITH_BOT = `(to_jsonb(i) || jsonb_build_object('active_bot',
  EXISTS (SELECT 1 FROM agent_bot_inboxes b WHERE b.inbox_id = i.id AND b.status = 0)))`

export async function findInbox (db: Queryable, accountId: number, inboxId: number | undefined): Promise<InboxRow | undefined> {
  if (inboxId === undefined) return undefined
  const row = await one<{ inbox: InboxRow }>(db,
    `SELECT ${INBOX_WITH_BOT} AS inbox FROM inboxes i WHERE i.id = $1 AND i.account_id = $2`, [inboxId, accountId])
  return row?.inbox
}

export async function listInboxes (db: Queryable, accountId: number): Promise<InboxRow[]> {
  return (await db.query<InboxRow>(
    `SELECT i.*, a.identifier AS inbox_identifier FROM inboxes i
       LEFT JOIN channel_api a ON i.channel_type = 'Channel::Api' AND a.id = i.channel_id
      WHERE i.account_id = $1 ORDER BY i.id`, [accountId])).rows
}
