import { test } from 'tap'
import { chatwootApi, contactWithConversation, startSimulator } from '../helpers/simulator.js'

// Issue 14, item 10: the account checks of EnsureCurrentAccountHelper.

test("a bot token on another account's id is a 401 naming the bot; a user token names the account", async (t) => {
  const sim = await startSimulator(t)
  const a = await sim.createAccount()
  const b = await sim.createAccount()
  const intoB = chatwootApi(sim, a, b.accountId)
  const { displayId } = await contactWithConversation(chatwootApi(sim, b), b.inboxId, 'b-contact')

  const bot = await intoB('POST', `/conversations/${displayId}/messages`, { body: { content: 'x' }, token: a.botToken })
  t.equal(bot.status, 401)
  t.same(bot.body, { error: 'Bot is not authorized to access this account' })
  const user = await intoB('POST', `/conversations/${displayId}/messages`, { body: { content: 'x' } })
  t.equal(user.status, 401)
  t.same(user.body, { error: 'You are not authorized to access this account' })

  // A bot connected to an inbox of the other account reaches it.
  await sim.query('INSERT INTO agent_bot_inboxes (inbox_id, agent_bot_id, account_id) SELECT $1, id, $2 FROM agent_bots WHERE account_id = $3',
    [b.inboxId, b.accountId, a.accountId])
  await sim.createInbox(a.accountId)
  t.equal((await intoB('POST', `/conversations/${displayId}/messages`, { body: { content: 'x' }, token: a.botToken })).status, 200)
})

test('a suspended account answers 401 to everyone, before membership and before the record lookup', async (t) => {
  const sim = await startSimulator(t)
  const a = await sim.createAccount()
  const b = await sim.createAccount()
  const call = chatwootApi(sim, a)
  const { displayId } = await contactWithConversation(call, a.inboxId, 'suspended')
  await sim.suspendAccount(a.accountId)
  const cases: Array<[string, string, string | undefined]> = [
    ['GET', `/conversations/${displayId}`, undefined],
    ['POST', `/conversations/${displayId}/messages`, a.botToken],
    ['GET', '/conversations/999999', undefined],
    ['GET', '/inboxes', b.token]
  ]
  for (const [method, path, token] of cases) {
    const answer = await call(method, path, { token, ...(method === 'POST' ? { body: { content: 'x' } } : {}) })
    t.equal(answer.status, 401, `${method} ${path}`)
    t.same(answer.body, { error: 'Account is suspended' })
  }
  t.equal((await chatwootApi(sim, b)('GET', '/inboxes')).status, 200, 'other accounts are untouched')
  await sim.suspendAccount(a.accountId, false)
  t.equal((await call('GET', `/conversations/${displayId}`)).status, 200, 'active again')
})
