import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'tap'
import { createChatwootSimulator, serverUrl } from '../../lib/testing/index.js'
import { contactWithConversation, NOT_FOUND, simulatedAccount } from '../helpers/simulator.js'

test('a DELETEd conversation answers 200 at once, takes messages until its job runs, and they vanish with it', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { conversationDeleteDelayMs: 60_000 })
  const kept = await contactWithConversation(call, account.inboxId, 'kept')
  const { displayId } = await contactWithConversation(call, account.inboxId, 'doomed')
  t.equal((await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'before' } })).status, 200)

  const deleted = await call('DELETE', `/conversations/${displayId}`)
  t.equal(deleted.status, 200)
  t.equal(deleted.text, '')
  const between = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'acknowledged, then lost', message_type: 'incoming' } })
  t.equal(between.status, 200, 'a post before the job runs succeeds')
  t.equal((await call('GET', `/conversations/${displayId}`)).status, 200, 'the conversation is still readable')
  t.equal((await call('DELETE', `/conversations/${displayId}`)).status, 200, 'a second DELETE is answered the same')
  t.same(await sim.query('SELECT content FROM messages WHERE id = $1', [between.body.id]), [{ content: 'acknowledged, then lost' }])

  t.equal(await sim.runPendingDeletes(), 1, 'one job, though two DELETEs')
  t.equal(await sim.runPendingDeletes(), 0)
  const gone = await call('GET', `/conversations/${displayId}`)
  t.equal(gone.status, 404)
  t.same(gone.body, NOT_FOUND)
  const after = await call('POST', `/conversations/${displayId}/messages`, { body: { content: 'too late' } })
  t.equal(after.status, 404)
  t.same(after.body, NOT_FOUND)
  t.same(await sim.query('SELECT content FROM messages ORDER BY id'), [], 'the acknowledged message vanished with it')
  t.equal((await call('GET', `/conversations/${kept.displayId}`)).status, 200, 'another conversation stays')

  const unknown = await call('DELETE', `/conversations/${displayId + 100}`)
  t.equal(unknown.status, 404)
  t.same(unknown.body, NOT_FOUND)
})

test('the delete job runs by itself after conversationDeleteDelayMs; 0 deletes inside the request', async (t) => {
  const { sim, account, call } = await simulatedAccount(t, { conversationDeleteDelayMs: 200 })
  const { displayId } = await contactWithConversation(call, account.inboxId, 'timed')
  t.equal((await call('DELETE', `/conversations/${displayId}`)).status, 200)
  t.equal((await call('GET', `/conversations/${displayId}`)).status, 200, 'still there right after')
  await sleep(600)
  t.equal((await call('GET', `/conversations/${displayId}`)).status, 404, 'gone once the delay has passed')
  t.equal(await sim.runPendingDeletes(), 0, 'nothing left queued')

  const immediate = await simulatedAccount(t, { conversationDeleteDelayMs: 0 })
  const other = await contactWithConversation(immediate.call, immediate.account.inboxId, 'immediate')
  t.equal((await immediate.call('DELETE', `/conversations/${other.displayId}`)).status, 200)
  t.equal((await immediate.call('GET', `/conversations/${other.displayId}`)).status, 404, 'gone when the answer arrives')
})

test('conversationDeleteDelayMs must be a whole number of milliseconds', async (t) => {
  for (const value of [-1, 1.5, Number.NaN, 2 ** 31]) {
    await t.rejects(createChatwootSimulator({ database: serverUrl(), conversationDeleteDelayMs: value }),
      { code: 'FST_CHATWOOT_SIM_OPTIONS_INVALID', message: new RegExp(`conversationDeleteDelayMs.*got ${String(value)}`) })
  }
})
