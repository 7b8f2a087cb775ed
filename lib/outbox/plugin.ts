import { channel } from 'node:diagnostics_channel'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type pg from 'pg'
import { DeliveryInvalidError, OutboxClosedError } from '../errors.js'
import { type DeadPage, deadPage, discard, type OutboxStats, replay, stats } from './api.js'
import { exclusive, isEmbedded, type Queryable, storage } from './db.js'
import { deliverEntryWith } from './deliver-entry.js'
import { enqueue, type EnqueueResult, insertEntry } from './enqueue.js'
import type { EntryHandler } from './entry-kind.js'
import { checkKindEntry, type KindEntry, OutboxKinds } from './kinds.js'
import { messageKind } from './message-kind.js'
import { resumeChanged, sweepExpired } from './maintenance.js'
import { deleteWindowAndRetention } from './chores.js'
import { type ConversationExists, type EvictConversation, guardLane } from './deletion.js'
import { erase } from './retention.js'
import type { DeliveryContact } from '../conversations/get-or-create.js'
import { isRecord } from '../options.js'
import { type ChatwootOutboxOptions, outboxSettings } from './options.js'
import { type OutboxInput, storedJson } from './payload.js'
import { migrate } from './schema.js'
import { settingsHash } from './settle.js'
import { windowWaitMs } from './window.js'
import { type OutboxEvent, OutboxWorker } from './worker.js'

/** `{ event, instance }` for every outcome of an attempt (delivered, retried, dead, paused, ...). */
export const OUTBOX_CHANNEL = 'fastify-chatwoot:outbox'
const events = channel(OUTBOX_CHANNEL)

export interface EnqueueOptions {
  /** The host's connection inside its own transaction: the entry commits (or not) with the host's rows. */
  db?: Queryable
}

export interface OutboxApi {
  dead (query?: { instance?: string, limit?: number, cursor?: number | null }): Promise<DeadPage>
  replay (which: number[] | { instance: string }): Promise<number>
  discard (ids: number[]): Promise<number>
  stats (): Promise<OutboxStats>
  /** Removes every entry of one person (a contact as enqueued, or its key); their count. */
  erase (who: { instance: string, contact: DeliveryContact | string }): Promise<number>
  /** This process's counts of attempt outcomes since it started. */
  counters (): Record<OutboxEvent, number>
  /** Lets this process's workers run entries of `kind` (another plugin's, e.g. the webhooks' agent replies). */
  registerKind (kind: string, handler: EntryHandler): void
  /** Stores an entry of a registered kind; the same (instance, key, sourceId) again answers the existing entry. */
  enqueueEntry (instance: string, entry: KindEntry, options?: EnqueueOptions): Promise<EnqueueResult>
}

export interface OutboxMembers {
  /** Stores the message durably; resolves once its row is committed (with `db`: once the host commits). */
  enqueue (instance: string, input: OutboxInput, options?: EnqueueOptions): Promise<EnqueueResult>
  outbox: OutboxApi
}

export interface OutboxRequestMembers {
  enqueue (input: OutboxInput, options?: EnqueueOptions): Promise<EnqueueResult>
}

declare module '../client/decorator.js' {
  interface ChatwootExtensions {
    /** Stores one message durably for the outbox's workers to deliver (chatwootOutbox). */
    enqueue (instance: string, input: OutboxInput, options?: EnqueueOptions): Promise<EnqueueResult>
    /** Dead letters, replay, discard and stats of the outbox (chatwootOutbox). */
    outbox: OutboxApi
  }
  interface RequestChatwootExtensions {
    /** Stores one message for the request's instance (chatwootOutbox). */
    enqueue (input: OutboxInput, options?: EnqueueOptions): Promise<EnqueueResult>
  }
}

interface Extensible {
  extend?: (scope: FastifyInstance, members: object, requestMembers?: object) => void
}

/**
 * The one place the outbox decorates `fastify.chatwoot` (and `request.chatwoot`): through the client
 * plugin's scoped extension point where there is one, else by adding the members to the decorator.
 */
function attach (fastify: FastifyInstance, members: OutboxMembers, requestMembers: OutboxRequestMembers): void {
  const chatwoot = fastify.chatwoot as unknown as Extensible & object
  if (typeof chatwoot.extend === 'function') chatwoot.extend(fastify, members, requestMembers)
  else Object.assign(chatwoot, members)
}

const plugin: FastifyPluginAsync<ChatwootOutboxOptions> = async (fastify, options) => {
  const settings = outboxSettings(options)
  const { schema, contactKey, maxPayloadBytes } = settings
  const log = fastify.log.child({ plugin: 'chatwootOutbox' })
  const { pool: given, owned } = storage(fastify, settings.pool, settings.connectionString, settings.concurrency + 4)
  // An idle connection that fails (Postgres restarted, the connection killed) is emitted on the pool: a
  // pool of ours without a listener would take the host's process down with it.
  if (owned) (given as unknown as pg.Pool).on('error', (error) => log.warn({ err: error }, 'outbox: an idle Postgres connection failed'))
  let pool = given
  try {
    if (await isEmbedded(given)) pool = exclusive(given)
    const { from, to } = await migrate(pool, schema)
    if (from !== to) log.info({ schema, from, to }, 'outbox schema migrated')
  } catch (error) {
    if (owned) await (given as unknown as pg.Pool).end().catch(() => {})
    throw error
  }

  const counts = { delivered: 0, deduplicated: 0, retried: 0, dead: 0, paused: 0, resumed: 0, budgetWaits: 0, leaseLost: 0 }
  const count = (event: OutboxEvent, instance: string) => {
    counts[event]++
    if (events.hasSubscribers) events.publish({ event, instance })
  }
  // Parsed once per settings object (the registry keeps it until the instance's settings change), not per attempt.
  const origins = new WeakMap<object, string>()
  const describe = async (instance: string) => {
    const resolved = await fastify.chatwootInstances.get(instance)
    let origin = origins.get(resolved.chatwoot)
    if (origin === undefined) origins.set(resolved.chatwoot, origin = new URL(resolved.chatwoot.url).origin)
    return {
      origin,
      // The client's own timeout, whichever set it (the instance, the client plugin): a post needs that much lease.
      timeoutMs: fastify.chatwoot.clientFor(resolved).timeoutMs,
      get configHash () { return settingsHash(resolved.chatwoot) } // read by a pause only: no sha256 at every attempt
    }
  }
  // The delete window: a conversation is gone when Chatwoot answers 404 for it (see deletion.ts).
  const exists: ConversationExists = async (instance, conversationId) => {
    const client = await fastify.chatwoot.client(instance)
    return client.getConversation(conversationId).then(() => true, (error: { code?: unknown }) => {
      if (error?.code === 'FST_CHATWOOT_NOT_FOUND') return false
      throw error
    })
  }
  const evict: EvictConversation = (instance, contact) => fastify.chatwoot.conversations.evict(instance, contact)
  const kinds = new OutboxKinds(messageKind(deliverEntryWith(() => fastify.chatwoot), settings.openAttachment))
  // The person's lane where the conversations plugin links identities (docs/identity.md), else the contact's.
  const laneFor = async (instance: string, contact: DeliveryContact, key: string) => {
    const { person } = fastify.chatwoot.conversations as { person?: (instance: string, contact: DeliveryContact) => Promise<string> }
    return person === undefined ? key : await person(instance, contact)
  }
  const worker = settings.worker
    ? new OutboxWorker({
      pool,
      prepared: pool === given,
      schema,
      concurrency: settings.concurrency,
      leaseMs: settings.leaseMs,
      pollMs: settings.pollMs,
      requestsPerMinute: settings.requestsPerMinute,
      policy: { ...settings, random: Math.random },
      handlerFor: (kind) => kinds.handlerFor(kind),
      guard: (head, target) => guardLane(pool, schema, head, target, exists, evict),
      describe,
      windowWaitMs: (instance, conversationId) => windowWaitMs(fastify, instance, conversationId),
      log,
      count
    })
    : undefined

  let closed = false
  const members: OutboxMembers = {
    async enqueue (instance, input, enqueueOptions = {}) {
      if (closed) throw new OutboxClosedError(`enqueue into "${instance}"`)
      // An unknown instance is refused here, as deliver() would refuse it, not found dead a moment later.
      await fastify.chatwootInstances.get(instance)
      const result = await enqueue(enqueueOptions.db ?? pool, instance, input, { schema, contactKey, maxPayloadBytes, laneFor })
      // In the host's transaction the row is not visible before its commit: a wake would only send an empty
      // claim per enqueue (200 for a 200-row transaction); the next poll (pollMs) finds the committed rows.
      if (enqueueOptions.db === undefined) worker?.wake()
      return result
    },
    outbox: {
      dead: (query) => deadPage(pool, schema, query),
      replay: async (which) => {
        const replayed = await replay(pool, schema, which)
        worker?.wake()
        return replayed
      },
      discard: (ids) => discard(pool, schema, ids),
      stats: () => stats(pool, schema),
      erase: async ({ instance, contact }) => {
        const key = typeof contact === 'string' ? contact : isRecord(contact) ? contactKey(contact as unknown as DeliveryContact) : undefined
        if (typeof instance !== 'string' || typeof key !== 'string') throw new DeliveryInvalidError('erase() expects { instance, contact } with a contact or its key')
        return erase(pool, schema, instance, key)
      },
      counters: () => ({ ...counts }),
      registerKind: (kind, handler) => kinds.register(kind, handler),
      async enqueueEntry (instance, entry, enqueueOptions = {}) {
        if (closed) throw new OutboxClosedError(`enqueue into "${instance}"`)
        checkKindEntry(entry)
        await fastify.chatwootInstances.get(instance)
        const result = await insertEntry(enqueueOptions.db ?? pool, schema, instance, { ...entry, ...storedJson(entry.payload, maxPayloadBytes) })
        worker?.wake()
        return result
      }
    }
  }
  attach(fastify, members, {
    enqueue (this: { instance: string }, input, enqueueOptions) {
      return members.enqueue(this.instance, input, enqueueOptions)
    }
  })

  // Chores: entries of paused instances past maxAge, pauses whose instance's settings changed, the
  // delete-window checks and retention (chores.ts).
  const hashNow = (instance: string) => describe(instance).then((described) => described.configHash, () => undefined)
  const chores = async (only?: string) => {
    const resumed = await resumeChanged(pool, schema, hashNow, only)
    for (const instance of resumed) {
      count('resumed', instance)
      log.info({ instance }, 'outbox: the paused instance\'s settings changed; its entries go on')
    }
    if (resumed.length > 0) worker?.wake()
    if (only !== undefined) return
    await sweepExpired(pool, schema, settings.maxAgeMs)
    const done = await deleteWindowAndRetention(pool, settings, exists, evict, log)
    if (done.requeued > 0) worker?.wake()
  }
  // One run at a time in a process: a slow Chatwoot must not pile checks up.
  let running: Promise<void> | undefined
  const runChores = (only?: string) => {
    if (running !== undefined && only === undefined) return
    const run = chores(only).catch((error: unknown) => log.warn({ err: error }, 'outbox: maintenance failed'))
    if (only === undefined) running = run.finally(() => { running = undefined })
  }
  let timer: NodeJS.Timeout | undefined
  const unsubscribe = fastify.chatwootInstances.onChange((name) => runChores(name))

  fastify.addHook('onReady', async () => {
    if (worker === undefined) return
    worker.start()
    timer = setInterval(runChores, settings.maintenanceMs)
    timer.unref()
  })
  fastify.addHook('onClose', async () => {
    closed = true
    unsubscribe()
    clearInterval(timer)
    // Each attempt under way settles and gives its lane back; nothing is left leased by a clean close.
    await worker?.close()
    await running
    if (owned) await (given as unknown as pg.Pool).end()
  })
}

export const chatwootOutbox = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-outbox',
  dependencies: ['fastify-chatwoot-instances', 'fastify-chatwoot-client', 'fastify-chatwoot-conversations']
})
