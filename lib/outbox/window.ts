import type { FastifyInstance } from 'fastify'

const WINDOW_SECONDS = 60

/**
 * Milliseconds until the conversation's minute window has room: 60 s after the oldest of its messages
 * of the last minute, read in the instance's own Chatwoot database (its timestamps are UTC without a
 * zone, compared on that database's clock). Undefined when the instance has no database: the caller
 * waits a whole minute. Never assumes Chatwoot's limit: it only waits for the window to move on.
 */
export async function windowWaitMs (fastify: FastifyInstance, instance: string, conversationId: number): Promise<number | undefined> {
  if (!fastify.hasDecorator('instancePg')) return undefined
  const settings = await fastify.chatwootInstances.get(instance)
  if (settings.database === undefined) return undefined
  const { rows } = await fastify.instancePg.query(instance, `
    SELECT extract(epoch FROM min(m.created_at) + make_interval(secs => $3) - (now() AT TIME ZONE 'utc')) * 1000 AS wait_ms
      FROM messages m JOIN conversations c ON c.id = m.conversation_id
     WHERE c.account_id = $1 AND c.display_id = $2
       AND m.created_at >= (now() AT TIME ZONE 'utc') - make_interval(secs => $3)`,
  [settings.chatwoot.accountId, conversationId, WINDOW_SECONDS])
  const wait = rows[0]?.wait_ms
  // No message in the window (they were deleted meanwhile): room now.
  return wait === null || wait === undefined ? 0 : Math.max(0, Math.ceil(Number(wait)))
}
