import type { FastifyInstance } from 'fastify'
import type { Message } from '../client/types.js'
import type { ResolvedInstance } from '../instances/config.js'

/**
 * The stored message, read from the instance's own Chatwoot database when it has one (undefined when it
 * has none: the API answers then). The path's id is the display id; messages.conversation_id is the
 * internal id, hence the join.
 */
export async function findInDatabase (fastify: FastifyInstance, settings: ResolvedInstance, conversationId: number,
  sourceId: string): Promise<Message | null | undefined> {
  if (settings.database === undefined || !fastify.hasDecorator('instancePg')) return undefined
  const { rows } = await fastify.instancePg.query(settings.name,
      `SELECT m.id, m.content, m.inbox_id, m.message_type, m.private, m.source_id,
              floor(extract(epoch FROM m.created_at))::int AS created_at
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE c.account_id = $1 AND c.display_id = $2 AND m.source_id = $3
        ORDER BY m.id LIMIT 1`, [settings.chatwoot.accountId, conversationId, sourceId])
  const row = rows[0]
  return row === undefined ? null : { ...row, conversation_id: conversationId }
}
