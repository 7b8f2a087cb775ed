// examples/gateway with its outbox: `?queue=1` on the message and media routes, the dead-letter
// routes, the outbox gauges on /metrics and the backlog on /health.
import { FormData } from 'undici'
import { test } from 'tap'
import { until } from '../outbox/fixture.js'
import { usesServers } from '../setup/servers.js'
import { addInstance, answerOf, message, multipart, postMessage, setup, storedMessages } from './fixture.js'

usesServers('postgres', 'redis')

// Short waits: the failures here are injected, and the test should not sit in a backoff.
const OUTBOX = { pollMs: 50, backoffMinMs: 50, backoffMaxMs: 200, maintenanceMs: 500 }

const queue = (app: Parameters<typeof postMessage>[0], payload: unknown, query = '?queue=1') =>
  app.inject({ method: 'POST', url: `/instances/acme/messages${query}`, payload: payload as Record<string, unknown> })

test('?queue=1 answers 202 with the entry once stored; the workers deliver in order; the plain form still answers 200', async (t) => {
  const { sim, account, app } = await setup(t, { outbox: OUTBOX })
  await addInstance(app, sim, account)
  const queued = []
  for (let index = 0; index < 5; index++) queued.push(answerOf(await queue(app, message('alice', `m${index}`, { source_id: `wamid.${index}` }))))
  for (const [index, answer] of queued.entries()) {
    t.equal(answer.status, 202, answer.text)
    t.match(answer.body, { id: Number, sourceId: `wamid.${index}`, state: 'queued', existing: false })
  }
  await until(async () => (await storedMessages(sim, account)).length === 5, 20_000, 'five delivered')
  t.same((await storedMessages(sim, account)).map((row) => row.content), ['m0', 'm1', 'm2', 'm3', 'm4'], 'in enqueue order')

  const again = answerOf(await queue(app, message('alice', 'm0', { source_id: 'wamid.0' })))
  t.equal(again.status, 202)
  t.match(again.body, { id: queued[0]!.body.id, existing: true }, 'the same key answers the existing entry')
  const conflict = answerOf(await queue(app, message('alice', 'changed', { source_id: 'wamid.0' })))
  t.equal(conflict.status, 409, conflict.text)
  t.equal(conflict.body.code, 'FST_CHATWOOT_OUTBOX_CONFLICT')

  const now = answerOf(await postMessage(app, message('alice', 'direct')))
  t.equal(now.status, 200, now.text)
  t.match(now.body, { messageId: Number, conversationId: (await storedMessages(sim, account))[0]!.display_id })
  const zero = answerOf(await queue(app, message('alice', 'direct too'), '?queue=0'))
  t.equal(zero.status, 200, '?queue=0 is the synchronous form')
})

test('?queue=1 refuses bad input before it enters the table, and unknown instances', async (t) => {
  const { sim, account, app } = await setup(t, { outbox: OUTBOX })
  await addInstance(app, sim, account)
  const missing = answerOf(await queue(app, { contact: { name: 'x' }, message: { content: 'x' } }))
  t.equal(missing.status, 400)
  t.equal(missing.body.field, 'body.contact.identifier')
  const flag = answerOf(await queue(app, message('alice', 'x'), '?queue=yes'))
  t.equal(flag.status, 400)
  t.equal(flag.body.field, 'querystring.queue')
  const unknown = await app.inject({ method: 'POST', url: '/instances/nobody/messages?queue=1', payload: message('alice', 'x') })
  t.equal(unknown.statusCode, 404, unknown.body)
  t.match(await app.chatwoot.outbox.stats(), { queued: 0, dead: 0, delivered: 0 })
})

test('media with ?queue=1 is stored with its file and delivered byte for byte', async (t) => {
  const { sim, account, app } = await setup(t, { outbox: OUTBOX })
  await addInstance(app, sim, account)
  const form = new FormData()
  form.append('identifier', 'alice')
  form.append('content', 'a photo')
  form.append('attachments', new Blob([Buffer.from('not really a png')], { type: 'image/png' }), 'photo.png')
  const answer = answerOf(await app.inject({ method: 'POST', url: '/instances/acme/media?queue=1', ...(await multipart(form)) }))
  t.equal(answer.status, 202, answer.text)
  t.equal(answer.body.state, 'queued')
  await until(async () => (await storedMessages(sim, account)).length === 1, 20_000, 'the media delivered')
  const [file] = await sim.query<{ bytes: number }>('SELECT count(*)::int AS bytes FROM attachments WHERE account_id = $1', [account.accountId])
  t.equal(file!.bytes, 1, 'one attachment stored')
})

test('dead letters: listed with the reason, replayed at the lane\'s end, discarded; gauges and health show them', async (t) => {
  const { sim, account, app } = await setup(t, { outbox: OUTBOX })
  await addInstance(app, sim, account)
  // A 422 is Chatwoot refusing the message itself: dead at once.
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 422, body: { error: 'Validation failed: nope' }, times: 2 })
  for (const contact of ['alice', 'bob']) t.equal((await queue(app, message(contact, `${contact} 0`, { source_id: `${contact}-0` }))).statusCode, 202)
  await until(async () => (await app.chatwoot.outbox.stats()).dead === 2, 20_000, 'two dead')

  const page = answerOf(await app.inject({ method: 'GET', url: '/outbox/dead?instance=acme&limit=1' }))
  t.equal(page.status, 200, page.text)
  t.equal(page.body.entries.length, 1)
  t.match(page.body.entries[0], { instance: 'acme', sourceId: 'alice-0', lastErrorCode: 'FST_CHATWOOT_VALIDATION', reason: /nope/ })
  t.notMatch(page.text, new RegExp(account.token), 'no token in the dead letters')
  const next = answerOf(await app.inject({ method: 'GET', url: `/outbox/dead?limit=1&cursor=${page.body.cursor}` }))
  t.match(next.body.entries, [{ sourceId: 'bob-0' }])
  t.equal(answerOf(await app.inject({ method: 'GET', url: '/outbox/dead?limit=0' })).body.field, 'querystring.limit')

  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^chatwoot_outbox_dead 2$/m)
  t.match(metrics, /^chatwoot_outbox_queued 0$/m)
  for (const name of ['in_flight', 'paused_instances', 'oldest_queued_age_seconds']) t.match(metrics, new RegExp(`^chatwoot_outbox_${name} \\d`, 'm'))
  const health = answerOf(await app.inject({ method: 'GET', url: '/health' }))
  t.match(health.body, { status: 'ok', outbox: { ok: true, queued: 0, dead: 2, oldestQueuedAgeMs: 0, pausedInstances: [] } })

  t.equal((await queue(app, message('alice', 'alice 1', { source_id: 'alice-1' }))).statusCode, 202)
  await until(async () => (await storedMessages(sim, account)).length === 1, 20_000, 'alice-1 delivered past her dead entry')
  const replayed = answerOf(await app.inject({ method: 'POST', url: '/outbox/replay', payload: { ids: [page.body.entries[0].id] } }))
  t.same(replayed.body, { replayed: 1 })
  await until(async () => (await storedMessages(sim, account)).length === 2, 20_000, 'the replayed entry delivered')
  t.same((await storedMessages(sim, account)).map((row) => row.source_id), ['alice-1', 'alice-0'], 'at the lane\'s end')

  const bobId = next.body.entries[0].id
  t.equal((await app.inject({ method: 'DELETE', url: `/outbox/dead/${bobId}` })).statusCode, 204)
  const gone = answerOf(await app.inject({ method: 'DELETE', url: `/outbox/dead/${bobId}` }))
  t.equal(gone.status, 404)
  t.equal(gone.body.code, 'GATEWAY_DEAD_ENTRY_NOT_FOUND')
  t.equal(answerOf(await app.inject({ method: 'DELETE', url: '/outbox/dead/abc' })).status, 400)
  t.same(answerOf(await app.inject({ method: 'POST', url: '/outbox/replay', payload: { instance: 'acme' } })).body, { replayed: 0 })
  t.equal(answerOf(await app.inject({ method: 'POST', url: '/outbox/replay', payload: { ids: [] } })).status, 400)
  t.match(await app.chatwoot.outbox.stats(), { dead: 0 })
})

test('without an outbox: ?queue=1 is refused, the dead-letter routes are absent', async (t) => {
  const { sim, account, app } = await setup(t, { outbox: false })
  await addInstance(app, sim, account)
  t.equal((await queue(app, message('alice', 'x'))).statusCode, 400)
  t.equal((await app.inject({ method: 'GET', url: '/outbox/dead' })).statusCode, 404)
  t.notMatch((await app.inject({ method: 'GET', url: '/metrics' })).body, /chatwoot_outbox_/)
  t.notOk('outbox' in answerOf(await app.inject({ method: 'GET', url: '/health' })).body)
})
