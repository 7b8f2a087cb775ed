import type { FastifyBaseLogger } from 'fastify'
import type { Queryable } from './db.js'
import { checkConversation, type ConversationExists, dueConversations, type EvictConversation } from './deletion.js'
import { pausedInstances } from './maintenance.js'
import { prune, pruneLanes, strip } from './retention.js'

// The delete-window checks and retention, run by every worker process every `maintenanceMs`. Replicas
// may run them at once: each statement is safe against another's (a requeue or a vouch changes only rows
// still unchecked; the deletes re-read their conditions).

export interface ChoreSettings {
  schema: string
  deleteWindowMs: number
  settleMs: number
  retentionMs: number
  deadRetentionMs: number
  choreBatch: number
}

export interface ChoreResult {
  vouched: number
  requeued: number
  stripped: number
  pruned: number
  deadPruned: number
  lanesPruned: number
}

export async function deleteWindowAndRetention (db: Queryable, settings: ChoreSettings, exists: ConversationExists,
  evict: EvictConversation, log: FastifyBaseLogger): Promise<ChoreResult> {
  const { schema, choreBatch: limit } = settings
  const result: ChoreResult = { vouched: 0, requeued: 0, stripped: 0, pruned: 0, deadPruned: 0, lanesPruned: 0 }
  // A paused instance answers 401 or 404 to everything: its 404 says nothing about one conversation.
  const paused = new Set((await pausedInstances(db, schema)).map((p) => p.instance))
  for (const due of await dueConversations(db, schema, settings, limit)) {
    if (paused.has(due.instance)) continue
    try {
      const checked = await checkConversation(db, schema, due, settings.deleteWindowMs, exists, evict)
      result.vouched += checked.vouched
      result.requeued += checked.requeued
      if (checked.requeued > 0) {
        log.warn({ instance: due.instance, conversation: due.conversationId, entries: checked.requeued },
          'outbox: a conversation was deleted after delivery; its unchecked entries are delivered again')
      }
    } catch (error) {
      // Checked again at the next run: the entries stay unchecked (and keep their content) meanwhile.
      log.warn({ err: error, instance: due.instance, conversation: due.conversationId }, 'outbox: checking a conversation failed')
    }
  }
  result.stripped = await strip(db, schema, limit)
  const pruned = await prune(db, schema, { retentionMs: settings.retentionMs, deadRetentionMs: settings.deadRetentionMs, limit })
  result.pruned = pruned.delivered
  result.deadPruned = pruned.dead
  result.lanesPruned = await pruneLanes(db, schema, limit)
  return result
}
