// Agent replies through the outbox: stored before the answer, sent once per message id, in order per
// conversation while the sender fails, marked failed in Chatwoot (and dead) when it keeps failing; the
// conversation cache following a resolved conversation; the sweep finding replies whose webhook was lost.
import type { FastifyInstance } from 'fastify'
import { test } from 'tap'
import type { InstanceConfig } from '../../lib/index.js'
import { chatwootOutbox } from '../../lib/outbox/plugin.js'
import { chatwootWebhooks } from '../../lib/webhooks/index.js'
import type { ChatwootWebhooksOptions } from '../../lib/webhooks/options.js'
import { testDatabase } from '../helpers/app.js'
import { gateway, instanceOf, QUICK_RETRY } from '../helpers/gateway.js'
import { chatwootApi, contactWithConversation, startSimulator } from '../helpers/simulator.js'
import { QUICK_OUTBOX, until } from '../outbox/fixture.js'
import { usesServers } from '../setup/servers.js'
import { agentMessage, agentReply, postWebhook, SECRET, STATUS, storedStatus } from './fixture.js'

usesServers('postgres', 'redis')

type Teardown = { teardown: (fn: () => unknown) => void }

/** conversations + outbox + webhooks, as a gateway registers them; the handler records what it sent. */
async function replyGateway (t: Teardown, instances: Record<string, InstanceConfig | undefined>,
  options: Partial<ChatwootWebhooksOptions> & { databaseUrl?: string } = {}) {
  const sent: Array<{ id: number, conversationId: number, idempotencyKey: string }> = []
  const databaseUrl = options.databaseUrl ?? (await testDatabase(t)).url
  const { databaseUrl: _url, ...webhookOptions } = options
  const { app } = await gateway(t, {
    instances,
    client: { retry: QUICK_RETRY, timeoutMs: 500 },
    setup: async (scope: FastifyInstance) => {
      await scope.register(chatwootOutbox, { connectionString: databaseUrl, ...QUICK_OUTBOX })
      await scope.register(chatwootWebhooks, {
        onAgentMessage: async (_instance, message, { idempotencyKey, conversationId }) => { sent.push({ id: message.id, conversationId, idempotencyKey }) },
        postgres: databaseUrl,
        reconcileGraceMs: 1,
        ...webhookOptions
      })
    }
  })
  return { app, sent, databaseUrl }
}

test('a reply is stored before the answer and sent once, whatever comes twice; Chatwoot sees it sent', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { config, displayId, messageId } = await agentReply(sim, account, 'twice@s.whatsapp.net')
  const { app, sent } = await replyGateway(t, { a: config })
  const answers = []
  for (let copy = 0; copy < 3; copy++) answers.push((await postWebhook(app, 'a', agentMessage(messageId, displayId, { copy }))).body)
  t.same(answers, [{ action: 'agent-message' }, { action: 'ignored', duplicate: 'message' }, { action: 'ignored', duplicate: 'message' }],
    'a second body of the same message id (another copy) is the same reply')
  await until(async () => (await storedStatus(sim, messageId))?.status === STATUS.sent && sent.length === 1, 15_000, 'the reply sent')
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(sent, [{ id: messageId, conversationId: displayId, idempotencyKey: `chatwoot:a:${account.accountId}:${messageId}` }])
  const stats = await app.chatwoot.outbox.stats()
  t.equal(stats.delivered, 1)
})

test('order per conversation with a failing sender; a reply that keeps failing is failed in Chatwoot and dead', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const first = await agentReply(sim, account, 'order@s.whatsapp.net')
  const call = chatwootApi(sim, account)
  const ids = [first.messageId]
  for (const content of ['two', 'three']) {
    ids.push((await call('POST', `/conversations/${first.displayId}/messages`, { body: { content, message_type: 'outgoing' } })).body.id)
  }
  const hopeless = await agentReply(sim, account, 'hopeless@s.whatsapp.net')
  const order: number[] = []
  let failures = 2
  const { app } = await replyGateway(t, { a: first.config }, {
    replyAttempts: 3,
    onAgentMessage: async (_instance, message) => {
      if (message.id === hopeless.messageId) throw Object.assign(new Error('number not on WhatsApp'), { code: 'WA_131026' })
      if (message.id === ids[0] && failures-- > 0) throw Object.assign(new Error('WhatsApp is down'), { code: 'FST_CHATWOOT_UNAUTHORIZED' })
      order.push(message.id)
    }
  })
  for (const id of ids) t.same((await postWebhook(app, 'a', agentMessage(id, first.displayId))).body, { action: 'agent-message' })
  t.same((await postWebhook(app, 'a', agentMessage(hopeless.messageId, hopeless.displayId))).body, { action: 'agent-message' })
  await until(async () => order.length === 3 && (await app.chatwoot.outbox.stats()).dead === 1, 20_000, 'three sent, one dead')
  t.same(order, ids, 'the conversation waited for its failing first reply')
  const stats = await app.chatwoot.outbox.stats()
  t.same(stats.paused, [], 'a host error carrying a Chatwoot code did not pause the instance')
  const { entries } = await app.chatwoot.outbox.dead()
  t.equal(entries.length, 1)
  t.match(entries[0], { kind: 'agent-reply', lane: `conversation:${hopeless.displayId}`, sourceId: String(hopeless.messageId), attempts: 3 })
  t.match(entries[0]!.reason, /^FST_CHATWOOT_OUTBOX_GAVE_UP: .*not sent after 3 attempt\(s\): WA_131026: number not on WhatsApp/, 'dead by the outbox\'s give-up code, with the reason')
  t.same(await storedStatus(sim, hopeless.messageId), { status: STATUS.failed, external_error: 'WA_131026: number not on WhatsApp' })
  t.equal((await storedStatus(sim, ids[0]!))?.status, STATUS.sent)
})

test('a resolved conversation leaves the cache: the next message goes into a new conversation at once', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const config = instanceOf(sim, account)
  const { app } = await replyGateway(t, { a: { ...config, chatwoot: { ...config.chatwoot, webhookSecret: SECRET } } })
  const call = chatwootApi(sim, account)
  const deliver = (identifier: string, n: number) => app.chatwoot.deliver('a', { contact: { identifier }, message: { content: `m${n}`, source_id: `${identifier}-${n}` } })
  const followed = await deliver('followed@s.whatsapp.net', 1)
  const control = await deliver('control@s.whatsapp.net', 1)
  for (const { conversationId } of [followed, control]) {
    t.equal((await call('POST', `/conversations/${conversationId}/toggle_status`, { body: { status: 'resolved' } })).status, 200)
  }
  // What Chatwoot sends: the conversation as its API shows it, meta.sender the contact.
  const conversation = (await call('GET', `/conversations/${followed.conversationId}`)).body
  const answer = await postWebhook(app, 'a', { event: 'conversation_status_changed', ...conversation })
  t.same(answer.body, { action: 'evicted' })
  const labelled = await postWebhook(app, 'a', { event: 'conversation_updated', ...conversation, changed_attributes: [{ label_list: {} }] })
  t.match(labelled.body, { action: 'ignored', reason: /without a status change/ })

  const next = await deliver('followed@s.whatsapp.net', 2)
  t.not(next.conversationId, followed.conversationId, 'a new conversation, as the policy (reuse open or pending) says')
  t.equal(next.recovered, false, 'found without a 404 first')
  t.equal((await call('GET', `/conversations/${followed.conversationId}`)).body.status, 'resolved', 'the resolved one stays resolved')
  const unfollowed = await deliver('control@s.whatsapp.net', 2)
  t.equal(unfollowed.conversationId, control.conversationId, 'without the webhook the cached, resolved conversation is reopened')
})

test('the sweep recovers a reply whose webhook was dropped, and one sent while the gateway was down, once each', async (t) => {
  const instances: Record<string, InstanceConfig> = {}
  const database = await testDatabase(t)
  const first = await replyGateway(t, instances, { databaseUrl: database.url })
  const url = await first.app.listen({ port: 0, host: '127.0.0.1' })
  const sim = await startSimulator(t, { webhooks: { url: `${url}/chatwoot/webhooks/a`, secret: SECRET } })
  const account = await sim.createAccount()
  const config = instanceOf(sim, account)
  instances.a = { ...config, chatwoot: { ...config.chatwoot, webhookSecret: SECRET } }
  const call = chatwootApi(sim, account)
  const { displayId } = await contactWithConversation(call, account.inboxId, 'swept@s.whatsapp.net')
  const post = async (body: Record<string, unknown>) => {
    const created = await call('POST', `/conversations/${displayId}/messages`, { body })
    await new Promise((resolve) => setImmediate(resolve))
    await sim.webhooks!.idle()
    return created.body.id as number
  }
  const before = await post({ content: 'before the first sweep', message_type: 'outgoing' })
  t.match(await first.app.chatwoot.reconcileReplies('a'), { enqueued: 0 }, 'the first sweep only sets the mark')
  await until(async () => first.sent.length === 1, 15_000, 'the first reply sent from its webhook')

  sim.webhooks!.fault('drop')
  const dropped = await post({ content: 'lost on the way', message_type: 'outgoing' })
  const arrived = await post({ content: 'arrived', message_type: 'outgoing' })
  await post({ content: 'from the customer', message_type: 'incoming', source_id: 'wamid.1' })
  await post({ content: 'a note', message_type: 'outgoing', private: true })
  t.match(await first.app.chatwoot.reconcileReplies('a'), { enqueued: 1 }, 'only the dropped reply was never recorded')
  await until(async () => first.sent.length === 3, 15_000, 'both replies sent')
  t.same(first.sent.map((s) => s.id).sort(), [before, dropped, arrived].sort())
  t.match(await first.app.chatwoot.reconcileReplies('a'), { enqueued: 0 }, 'the mark moved past them')
  await first.app.close()

  // While no gateway listens, Chatwoot's one attempt fails and the message is marked failed.
  const whileDown = await post({ content: 'while the gateway was down', message_type: 'outgoing' })
  t.equal(sim.webhooks!.attempts.at(-1)?.status, null)
  const second = await replyGateway(t, instances, { databaseUrl: database.url, reconcileMs: 100 })
  await until(async () => second.sent.length === 1, 15_000, 'the restarted gateway\'s timer swept it')
  t.same(second.sent.map((s) => s.id), [whileDown])
  await until(async () => (await storedStatus(sim, whileDown))?.status === STATUS.sent, 10_000, 'marked sent')
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal(second.sent.length + first.sent.length, 4, 'nothing sent twice by later sweeps')
})
