import { test } from 'tap'
import { ChatwootError, type DeliveryContact } from '../../lib/index.js'
import { gateway, instanceOf } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'

// Issue 14 item 9, deliver()'s side: Chatwoot never sends an OUTGOING message that carries a source_id to
// the channel (WhatsApp, SMS, Email...), so deliver() invents one only for the other types.

usesServers('postgres', 'redis')

const contact: DeliveryContact = { identifier: 'agent-side@s.whatsapp.net', name: 'Agent Side' }

type Sim = Awaited<ReturnType<typeof simulatedAccount>>['sim']

const sourceIdOf = async (sim: Sim, content: string) =>
  (await sim.query<{ source_id: string | null }>('SELECT source_id FROM messages WHERE content = $1', [content])).map((row) => row.source_id)

test('deliver(): incoming by default with a generated source_id; outgoing without one unless the caller gave its own', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) }, conversations: { idempotency: 'always' } })

  const incoming = await app.chatwoot.deliver('acme', { contact, message: { content: 'typed by default' } })
  t.equal(incoming.message.message_type, 0, 'incoming')
  t.match(await sourceIdOf(sim, 'typed by default'), [/^[0-9a-f-]{36}$/], 'a generated source_id')

  // Two of them: with idempotency 'always' a shared (absent) source_id must not be taken for one message delivered twice.
  for (const content of ['agent reply 1', 'agent reply 2']) {
    const result = await app.chatwoot.deliver('acme', { contact, message: { content, message_type: 'outgoing' } })
    t.equal(result.message.message_type, 1, `${content}: outgoing`)
    t.equal(result.deduplicated, false, `${content}: delivered, not taken for a duplicate`)
    t.same(await sourceIdOf(sim, content), [null], `${content}: stored without a source_id, so Chatwoot sends it to the channel`)
  }

  const mirrored = await app.chatwoot.deliver('acme', { contact, message: { content: 'sent from the phone', message_type: 'outgoing', source_id: 'wamid.OWN' } })
  t.equal(mirrored.message.source_id, 'wamid.OWN', 'the caller\'s own source_id is kept')
})

test('deliver(): an outgoing message without a source_id whose answer was lost fails instead of posting a second copy', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const { app } = await gateway(t, { instances: { acme: instanceOf(sim, account) } })
  await app.chatwoot.deliver('acme', { contact, message: { content: 'opens the conversation' } })
  sim.requests.length = 0
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })

  const error = await app.chatwoot.deliver('acme', { contact, message: { content: 'agent reply', message_type: 'outgoing' } })
    .then(() => undefined, (error: unknown) => error)
  t.ok(error instanceof ChatwootError)
  t.match(error, { code: 'FST_CHATWOOT_NETWORK', mayHaveLanded: true })
  t.same(await sourceIdOf(sim, 'agent reply'), [null], 'it landed once')
  t.equal(sim.requests.filter((request) => request.method === 'POST').length, 1, 'one post, no second copy')
})
