import { test } from 'tap'
import { ChatwootError } from '../../lib/client/index.js'
import { withClient } from '../helpers/client.js'

// updateContact: PUT /contacts/{id}, against the simulator's Chatwoot-shaped answers.

const failure = (promise: Promise<unknown>): Promise<ChatwootError> => promise.then(
  (answer) => { throw new Error(`expected the call to fail, it answered ${JSON.stringify(answer)}`) },
  (error: unknown) => { if (error instanceof ChatwootError) return error; throw error })

test('updateContact: one PUT, the answer is the contact after it; the attribute hashes merge', async (t) => {
  const { sim, account, client } = await withClient(t)
  const created = await client.createContact({ name: 'Ana', identifier: 'ana@lid', inbox_id: account.inboxId, additional_attributes: { city: 'Recife' } })
  const contactId = created.payload.contact.id
  sim.requests.length = 0

  const { payload } = await client.updateContact(contactId, { phone_number: '+5511999990001', additional_attributes: { aliases: ['x@s.whatsapp.net'] } })
  t.match(payload, { id: contactId, identifier: 'ana@lid', phone_number: '+5511999990001', contact_inboxes: [{ inbox: { id: account.inboxId } }] })
  t.same(payload.additional_attributes, { city: 'Recife', aliases: ['x@s.whatsapp.net'] })
  t.same(sim.requests.map(({ method, path, status }) => `${method} ${path} ${status}`),
    [`PUT /api/v1/accounts/${account.accountId}/contacts/${contactId} 200`])
})

test('updateContact: a phone another contact holds is FST_CHATWOOT_VALIDATION (422), sent once; bad input never sent', async (t) => {
  const { sim, client } = await withClient(t)
  await client.createContact({ name: 'Other', phone_number: '+5511999990002' })
  const mine = (await client.createContact({ name: 'Mine', identifier: 'mine' })).payload.contact
  sim.requests.length = 0

  const taken = await failure(client.updateContact(mine.id, { phone_number: '+5511999990002' }))
  t.match(taken, { code: 'FST_CHATWOOT_VALIDATION', statusCode: 422, retryable: false, operation: 'updateContact' })
  t.match(taken.body, { message: 'Phone number has already been taken', attributes: ['phone_number'] })
  t.equal(sim.requests.length, 1, 'a 422 is not retried')

  sim.requests.length = 0
  t.match(await failure(client.updateContact(0, { name: 'x' })), { code: 'FST_CHATWOOT_INPUT_INVALID', message: /contactId must be a positive integer/ })
  t.match(await failure(client.updateContact(mine.id, null as never)), { code: 'FST_CHATWOOT_INPUT_INVALID', message: /patch must be an object/ })
  t.match(await failure(client.updateContact(mine.id, { name: 'a\u0000b' })), { code: 'FST_CHATWOOT_INPUT_INVALID' })
  t.same(sim.requests, [], 'refused before sending')
  t.match(await failure(client.updateContact(mine.id + 1000, { name: 'x' })), { code: 'FST_CHATWOOT_NOT_FOUND', statusCode: 404 })
})

test('updateContact: an answer lost after the update landed is sent again (the same fields twice give the same contact)', async (t) => {
  const { sim, client } = await withClient(t)
  const mine = (await client.createContact({ name: 'Mine', identifier: 'lost', additional_attributes: { a: 1 } })).payload.contact
  sim.requests.length = 0
  sim.faults.add({ method: 'PUT', path: /\/contacts\/\d+$/, dropAfterCommit: true })

  const { payload } = await client.updateContact(mine.id, { phone_number: '+5511999990005', additional_attributes: { b: 2 } })
  t.match(payload, { phone_number: '+5511999990005', additional_attributes: { a: 1, b: 2 } })
  t.same(sim.requests.map(({ method }) => method), ['PUT', 'PUT'], 'the retry met the contact\'s own phone, not "taken"')
})
