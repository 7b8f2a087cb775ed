import { test } from 'tap'
import type { EntryAttempt } from '../../lib/outbox/entry-kind.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { instanceOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

test('an entry of a registered kind runs through its handler, per lane in order, retried on a retryable failure', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) } })
  const seen: EntryAttempt[] = []
  let failures = 2
  outbox.outbox.registerKind('test.echo', async (attempt) => {
    await attempt.beforePost({ conversationId: 41 })
    if ((attempt.payload as { n: number }).n === 1 && failures-- > 0) {
      // What a sender's transient failure looks like to the schedule policy: a retryable code.
      throw Object.assign(new Error('the sender is down for a moment'), { code: 'FST_CHATWOOT_SERVER', statusCode: 503 })
    }
    seen.push(attempt)
    return { conversationId: 41, messageId: 1000 + (attempt.payload as { n: number }).n, deduplicated: false, outsideChatwoot: true }
  })
  for (let n = 0; n < 5; n++) {
    const result = await outbox.outbox.enqueueEntry('acme', { kind: 'test.echo', lane: 'reply:41', key: 'reply:41', sourceId: `m${n}`, payload: { n } })
    t.equal(result.existing, false)
  }
  const again = await outbox.outbox.enqueueEntry('acme', { kind: 'test.echo', lane: 'reply:41', key: 'reply:41', sourceId: 'm0', payload: { n: 0 } })
  t.ok(again.existing, 'the same key again answers the existing entry')
  await t.rejects(outbox.outbox.enqueueEntry('acme', { kind: 'test.echo', lane: 'reply:41', key: 'reply:41', sourceId: 'm0', payload: { n: 9 } }),
    { code: 'FST_CHATWOOT_OUTBOX_CONFLICT' }, 'the same key with another payload is a conflict')
  await until(async () => seen.length === 5, 20_000, 'five entries handled')
  t.same(seen.map((attempt) => (attempt.payload as { n: number }).n), [0, 1, 2, 3, 4], 'lane order kept while the second entry failed twice')
  t.equal(seen[1]!.attempts, 2, 'the failing entry was handled on its third attempt')
  t.equal(seen[1]!.landedIn, 41, 'and knew where its earlier attempt was aimed')
  t.ok(seen.every((attempt) => attempt.kind === 'test.echo' && attempt.instance === 'acme' && attempt.lane === 'reply:41'))
  // The handler returns before its outcome is stored: wait for the store, then for nothing more.
  await until(async () => (await outbox.outbox.stats()).delivered === 5, 5000, 'five recorded delivered')
  t.equal((await outbox.outbox.stats()).delivered, 5)
})

test('registering and enqueueing check what they are given, with coded errors naming it', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { outbox } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) } })
  const handler = async () => ({ conversationId: 1, messageId: 1, deduplicated: false })
  t.throws(() => outbox.outbox.registerKind('Bad Kind', handler), { code: 'FST_CHATWOOT_DELIVERY_INVALID', message: /"Bad Kind"/ })
  t.throws(() => outbox.outbox.registerKind('message', handler), { message: /registered already/ }, 'the outbox\'s own kind cannot be replaced')
  t.throws(() => outbox.outbox.registerKind('ok', 'nope' as any), { message: /must be a function, got string/ })
  outbox.outbox.registerKind('ok', handler)
  t.throws(() => outbox.outbox.registerKind('ok', handler), { message: /registered already/ })
  await t.rejects(outbox.outbox.enqueueEntry('acme', { kind: 'message', lane: 'a', key: 'a', sourceId: 's', payload: {} }), { message: /enqueue\(\)/ })
  await t.rejects(outbox.outbox.enqueueEntry('acme', { kind: 'ok', lane: '', key: 'a', sourceId: 's', payload: {} }), { message: /entry\.lane/ })
  await t.rejects(outbox.outbox.enqueueEntry('acme', { kind: 'ok', lane: 'a', key: 'a', sourceId: 's', payload: undefined }), { message: /JSON/ })
  await t.rejects(outbox.outbox.enqueueEntry('nobody', { kind: 'ok', lane: 'a', key: 'a', sourceId: 's', payload: {} }), { code: 'FST_CHATWOOT_INSTANCE_NOT_FOUND' })
  t.equal((await outbox.outbox.stats()).queued, 0, 'nothing refused was stored')
})

test('a process without the handler of a kind leaves its entries for one that has it', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const first = await outboxApp(t, { instances: { acme: instanceOf(sim, account) } })
  await first.outbox.outbox.enqueueEntry('acme', { kind: 'later', lane: 'l', key: 'l', sourceId: 's1', payload: { x: 1 } }).catch((error: Error) => error)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal((await first.outbox.outbox.stats()).queued, 1, 'still queued: nobody here can run it')
  t.equal((await first.outbox.outbox.stats()).dead, 0, 'and not failed for it')
  const second = await outboxApp(t, { instances: { acme: instanceOf(sim, account) }, databaseUrl: first.databaseUrl })
  const ran: unknown[] = []
  second.outbox.outbox.registerKind('later', async (attempt) => {
    ran.push(attempt.payload)
    return { conversationId: 1, messageId: 2, deduplicated: false, outsideChatwoot: true }
  })
  await until(async () => ran.length === 1, 20_000, 'the process with the handler ran it')
  t.same(ran, [{ x: 1 }])
})
