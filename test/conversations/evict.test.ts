import { test } from 'tap'
import { gateway, instanceOf } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

// A host (or the webhooks plugin) that learns of a resolve or a delete evicts the contact's conversation; an
// event about an OLD conversation, arriving late, must not drop the one cached now.
test('evict with a conversation id forgets the cached conversation only while it is that one, in every process', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const instances = { acme: instanceOf(sim, account) }
  const one = await gateway(t, { instances })
  const two = await gateway(t, { instances, conversations: { keyPrefix: one.keyPrefix } })
  const contact = { identifier: 'ana@example.com' }
  const first = await one.app.chatwoot.deliver('acme', { contact, message: { content: 'hi', source_id: 'e1' } })
  // Cached in both processes (the second reads Redis once, then keeps it).
  t.equal((await two.app.chatwoot.deliver('acme', { contact, message: { content: 'again', source_id: 'e2' } })).conversationId, first.conversationId)

  await two.app.chatwoot.conversations.evict('acme', contact, first.conversationId + 1000)
  const hitsBefore = one.app.chatwoot.stats().hits
  t.equal((await one.app.chatwoot.deliver('acme', { contact, message: { content: 'kept', source_id: 'e3' } })).conversationId, first.conversationId)
  t.equal(one.app.chatwoot.stats().hits, hitsBefore + 1, 'another conversation\'s id evicted nothing: still a cache hit')
  t.equal(two.app.chatwoot.stats().evictions, 0)

  await two.app.chatwoot.conversations.evict('acme', contact, first.conversationId)
  t.equal(two.app.chatwoot.stats().evictions, 1, 'its own id evicts it')
  // The announcement reaches the other process's in-process copy.
  const deadline = Date.now() + 5000
  let missed = false
  while (!missed && Date.now() < deadline) {
    const misses = one.app.chatwoot.stats().misses
    await one.app.chatwoot.deliver('acme', { contact, message: { content: `after ${Date.now()}`, source_id: `e4-${Date.now()}` } })
    missed = one.app.chatwoot.stats().misses > misses
    if (!missed) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.ok(missed, 'the other process looked the conversation up again')
})
