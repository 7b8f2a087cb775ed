// The subset of Chatwoot's schema (v4.9.1 db/schema.rb) a bridge touches, with Chatwoot's own
// column names and types, so a gateway's database-side code can be tested on these tables.
// Timestamps are `timestamp without time zone` holding UTC, as Rails writes them.
export const schema = `
CREATE FUNCTION utc_now() RETURNS timestamp LANGUAGE sql STABLE AS $$ SELECT (now() AT TIME ZONE 'utc')::timestamp $$;

CREATE TABLE accounts (
  id serial PRIMARY KEY,
  name varchar NOT NULL,
  status integer DEFAULT 0, -- 0 active, 1 suspended
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);

-- Chatwoot numbers conversations per account from a sequence created with the account.
CREATE FUNCTION accounts_after_insert_row_tr() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE SEQUENCE IF NOT EXISTS conv_dpid_seq_%s', NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER accounts_after_insert_row_tr AFTER INSERT ON accounts
  FOR EACH ROW EXECUTE FUNCTION accounts_after_insert_row_tr();

CREATE TABLE users (
  id serial PRIMARY KEY,
  name varchar NOT NULL,
  email varchar NOT NULL DEFAULT '',
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);

CREATE TABLE account_users (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL,
  user_id bigint NOT NULL,
  role integer NOT NULL DEFAULT 0, -- 0 agent, 1 administrator
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now(),
  UNIQUE (account_id, user_id)
);

CREATE TABLE agent_bots (
  id bigserial PRIMARY KEY,
  name varchar NOT NULL,
  account_id bigint,
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);

-- An inbox's bot; an active one (status 0) makes new and reopened conversations pending.
CREATE TABLE agent_bot_inboxes (
  id bigserial PRIMARY KEY,
  inbox_id integer,
  agent_bot_id integer,
  status integer DEFAULT 0,
  account_id integer,
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);

CREATE TABLE access_tokens (
  id bigserial PRIMARY KEY,
  owner_type varchar NOT NULL, -- 'User' or 'AgentBot'
  owner_id bigint NOT NULL,
  token varchar NOT NULL UNIQUE,
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);

CREATE TABLE channel_api (
  id serial PRIMARY KEY,
  account_id integer NOT NULL,
  -- has_secure_token: random per inbox, so a fresh database gives a fresh one.
  identifier varchar NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text),
  webhook_url varchar,
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);

CREATE TABLE inboxes (
  id serial PRIMARY KEY,
  channel_id integer NOT NULL,
  account_id integer NOT NULL,
  name varchar NOT NULL,
  channel_type varchar,
  lock_to_single_conversation boolean NOT NULL DEFAULT false,
  allow_messages_after_resolved boolean DEFAULT true,
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);
CREATE INDEX index_inboxes_on_account_id ON inboxes (account_id);

CREATE TABLE contacts (
  id serial PRIMARY KEY,
  name varchar DEFAULT '',
  email varchar,
  phone_number varchar,
  account_id integer NOT NULL,
  identifier varchar,
  additional_attributes jsonb DEFAULT '{}',
  custom_attributes jsonb DEFAULT '{}',
  last_activity_at timestamp,
  blocked boolean NOT NULL DEFAULT false,
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);
CREATE UNIQUE INDEX uniq_email_per_account_contact ON contacts (email, account_id);
CREATE UNIQUE INDEX uniq_identifier_per_account_contact ON contacts (identifier, account_id);
CREATE INDEX index_contacts_on_phone_number_and_account_id ON contacts (phone_number, account_id);

CREATE TABLE contact_inboxes (
  id bigserial PRIMARY KEY,
  contact_id bigint,
  inbox_id bigint,
  source_id text NOT NULL,
  hmac_verified boolean DEFAULT false,
  pubsub_token varchar,
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);
CREATE UNIQUE INDEX index_contact_inboxes_on_inbox_id_and_source_id ON contact_inboxes (inbox_id, source_id);
CREATE INDEX index_contact_inboxes_on_contact_id ON contact_inboxes (contact_id);

CREATE TABLE conversations (
  id serial PRIMARY KEY,
  account_id integer NOT NULL,
  inbox_id integer NOT NULL,
  status integer NOT NULL DEFAULT 0, -- 0 open, 1 resolved, 2 pending, 3 snoozed
  assignee_id integer,
  contact_id bigint,
  display_id integer NOT NULL,
  contact_last_seen_at timestamp,
  agent_last_seen_at timestamp,
  additional_attributes jsonb DEFAULT '{}',
  contact_inbox_id bigint,
  uuid uuid NOT NULL DEFAULT gen_random_uuid(),
  identifier varchar,
  last_activity_at timestamp NOT NULL DEFAULT utc_now(),
  team_id bigint,
  snoozed_until timestamp,
  custom_attributes jsonb DEFAULT '{}',
  priority integer,
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);
CREATE UNIQUE INDEX index_conversations_on_account_id_and_display_id ON conversations (account_id, display_id);
CREATE UNIQUE INDEX index_conversations_on_uuid ON conversations (uuid);
CREATE INDEX index_conversations_on_contact_inbox_id ON conversations (contact_inbox_id);

CREATE FUNCTION conversations_before_insert_row_tr() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.display_id := nextval('conv_dpid_seq_' || NEW.account_id);
  RETURN NEW;
END $$;
CREATE TRIGGER conversations_before_insert_row_tr BEFORE INSERT ON conversations
  FOR EACH ROW EXECUTE FUNCTION conversations_before_insert_row_tr();

CREATE TABLE messages (
  id serial PRIMARY KEY,
  content text,
  account_id integer NOT NULL,
  inbox_id integer NOT NULL,
  conversation_id integer NOT NULL, -- conversations.id, not the display_id
  message_type integer NOT NULL, -- 0 incoming, 1 outgoing, 2 activity, 3 template
  private boolean NOT NULL DEFAULT false,
  status integer DEFAULT 0,
  source_id text,
  content_type integer NOT NULL DEFAULT 0,
  content_attributes json DEFAULT '{}',
  sender_type varchar,
  sender_id bigint,
  external_source_ids jsonb DEFAULT '{}',
  additional_attributes jsonb DEFAULT '{}',
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);
CREATE INDEX index_messages_on_conversation_account_type_created ON messages (conversation_id, account_id, message_type, created_at);
CREATE INDEX index_messages_on_source_id ON messages (source_id);

-- Chatwoot keeps the file in Active Storage; the simulator keeps what a test checks: name, type, size, digest.
CREATE TABLE attachments (
  id serial PRIMARY KEY,
  file_type integer DEFAULT 0, -- 0 image, 1 audio, 2 video, 3 file
  external_url varchar,
  account_id integer NOT NULL,
  message_id integer NOT NULL,
  extension varchar,
  meta jsonb DEFAULT '{}',
  created_at timestamp NOT NULL DEFAULT utc_now(),
  updated_at timestamp NOT NULL DEFAULT utc_now()
);
CREATE INDEX index_attachments_on_message_id ON attachments (message_id);
`
