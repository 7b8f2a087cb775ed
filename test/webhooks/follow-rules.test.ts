// Pure rules of the new parts: which status events evict, the contact they evict, the new options' checks.
import { test } from 'tap'
import type { DeliveryContact } from '../../lib/conversations/get-or-create.js'
import { contactOf, followStatus } from '../../lib/webhooks/follow-status.js'
import { webhooksOptions } from '../../lib/webhooks/options.js'

const sender = { identifier: 'x@s.whatsapp.net', phone_number: '+14155550123', email: '', name: 'X' }

test('only a resolved conversation of the instance\'s inbox, with a contact identifier, is evicted', async (t) => {
  const evicted: DeliveryContact[] = []
  const ids: Array<number | undefined> = []
  const evict = async (_instance: string, contact: DeliveryContact, conversationId?: number) => {
    evicted.push(contact)
    ids.push(conversationId)
  }
  const change = (status: string | undefined, payload: Record<string, unknown>) => followStatus({ instance: 'a', inboxId: 7, status, payload }, evict)
  const base = { event: 'conversation_status_changed', id: 3, inbox_id: 7, meta: { sender } }
  t.match(await change('open', base), { action: 'ignored', reason: 'status open' })
  t.match(await change('resolved', { ...base, inbox_id: 8 }), { reason: 'another inbox' })
  t.match(await change('resolved', { ...base, meta: { sender: { id: 1 } } }), { reason: /meta.sender.identifier/ })
  t.match(await change('resolved', { ...base, event: 'conversation_updated', changed_attributes: [{ assignee_id: {} }] }), { reason: /without a status change/ })
  t.same(evicted, [], 'none of those evicted')
  t.same(await change('resolved', { ...base, event: 'conversation_updated', changed_attributes: [{ status: { current_value: 'resolved' } }] }), { action: 'evicted' })
  t.same(await change('resolved', base), { action: 'evicted' })
  t.same(evicted, [{ identifier: 'x@s.whatsapp.net', phone_number: '+14155550123' }, { identifier: 'x@s.whatsapp.net', phone_number: '+14155550123' }],
    'the contact as deliveries name it (an empty email left out)')
  t.same(ids, [3, 3], 'only while the resolved conversation is the one cached')
  t.match(await followStatus({ instance: 'a', inboxId: 7, status: 'resolved', payload: base }, undefined), { reason: /chatwootConversations/ })
  t.equal(contactOf({ meta: null }), undefined)
})

test('the new options are checked with coded errors that never show a connection string', async (t) => {
  const onAgentMessage = async () => {}
  const defaults = webhooksOptions({ onAgentMessage })
  t.match(defaults, { replyAttempts: 5, reconcileMs: 300_000, reconcileGraceMs: 60_000, postgresSchema: 'fastify_chatwoot' })
  t.equal(webhooksOptions({ onAgentMessage, reconcileMs: 0 }).reconcileMs, 0, '0 turns the sweep off')
  for (const [options, pattern] of [
    [{ replyAttempts: 0 }, /replyAttempts/],
    [{ reconcileMs: -1 }, /reconcileMs/],
    [{ reconcileGraceMs: 0 }, /reconcileGraceMs/],
    [{ postgresSchema: 'Bad-Schema' }, /postgresSchema/],
    [{ postgres: 'mysql://user:hunter2@db/x' }, /postgres/]
  ] as const) {
    t.throws(() => webhooksOptions({ onAgentMessage, ...options } as any), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: pattern })
  }
  try {
    webhooksOptions({ onAgentMessage, postgres: 'mysql://user:hunter2@db/x' })
  } catch (error) {
    t.notMatch((error as Error).message, /hunter2/)
  }
})
