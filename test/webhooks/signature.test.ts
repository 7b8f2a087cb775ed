// chatwootWebhooks' door: a delivery is taken only when signed with the instance's webhookSecret
// within the replay window; each refusal is a coded 401 naming the failed check, never the secret.
import { inspect } from 'node:util'
import { test } from 'tap'
import { validateInstanceConfig } from '../../lib/instances/config.js'
import { appWithLogs } from '../helpers/app.js'
import { startSimulator } from '../helpers/simulator.js'
import { agentMessage, agentReply, postWebhook, SECRET, webhookGateway } from './fixture.js'

const CODE = 'FST_CHATWOOT_WEBHOOK_SIGNATURE'

test('chatwoot.webhookSecret is checked like the token and redacted in JSON and inspect', async (t) => {
  const chatwoot = { url: 'http://chat.example', accountId: 1, inboxId: 2, token: 'tok-secret-1' }
  const resolved = validateInstanceConfig('a', { chatwoot: { ...chatwoot, webhookSecret: SECRET } })
  t.equal(resolved.chatwoot.webhookSecret, SECRET)
  t.notMatch(JSON.stringify(resolved), SECRET)
  t.notMatch(inspect(resolved, { depth: 5 }), SECRET)
  t.match(JSON.stringify(resolved), /"webhookSecret":"\[redacted\]"/)
  t.equal(validateInstanceConfig('a', { chatwoot }).chatwoot.webhookSecret, undefined, 'optional')
  t.throws(() => validateInstanceConfig('a', { chatwoot: { ...chatwoot, webhookSecret: 42 } }),
    { code: 'FST_CHATWOOT_INSTANCE_CONFIG_INVALID', message: /chatwoot\.webhookSecret.*must be a string, got a value of type number/ })
})

test('a signed delivery is taken and answered at once; each failed check is named', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { config, displayId, messageId } = await agentReply(sim, account, 'sig@s.whatsapp.net')
  const nosecret = { ...config, chatwoot: { ...config.chatwoot, webhookSecret: undefined } }
  const { app, calls } = await webhookGateway(t, { a: config, nosecret })
  const payload = agentMessage(messageId, displayId)

  const good = await postWebhook(app, 'a', payload)
  t.same([good.status, good.body], [200, { action: 'agent-message' }])

  const refusals: Array<[string, Parameters<typeof postWebhook>, RegExp]> = [
    ['bad signature', [app, 'a', payload, { secret: 'not-the-secret' }], /"a" refused: bad signature/],
    ['stale', [app, 'a', payload, { timestamp: Math.floor(Date.now() / 1000) - 400 }], /refused: stale timestamp: .* 40\d s from .*\(window 300 s\)/],
    ['no signature', [app, 'a', payload, { headers: { 'x-chatwoot-signature': undefined } }], /refused: missing header X-Chatwoot-Signature/],
    ['no timestamp', [app, 'a', payload, { headers: { 'x-chatwoot-timestamp': undefined } }], /refused: missing header X-Chatwoot-Timestamp/],
    ['unknown instance', [app, 'b', payload], /"b" refused: unknown instance/],
    ['invalid name', [app, 'x', payload, { path: '/chatwoot/webhooks/%2A%7B' }], /"\(invalid name\)" refused: unknown instance/],
    ['no secret configured', [app, 'nosecret', payload], /"nosecret" refused: the instance has no chatwoot\.webhookSecret/]
  ]
  for (const [name, args, message] of refusals) {
    const answer = await postWebhook(...args)
    t.equal(answer.status, 401, name)
    t.match(answer.body, { code: CODE, message }, name)
    t.notMatch(JSON.stringify(answer.body), SECRET, `${name}: the secret is not shown`)
  }
  const bad = await app.inject({
    method: 'POST',
    url: '/chatwoot/webhooks/a',
    headers: { 'content-type': 'application/json', 'x-chatwoot-timestamp': '1', 'x-chatwoot-signature': 'sha256=00' },
    payload: '{}'
  })
  t.match(bad.json(), { code: CODE, message: /stale timestamp/ }, 'the timestamp is checked before the signature')

  await app.close()
  t.equal(calls.length, 1, 'only the signed delivery reached the handler')
})

test('a replayed delivery (same id, same signature) runs nothing twice', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { config, displayId, messageId } = await agentReply(sim, account, 'replay@s.whatsapp.net')
  const { app, calls } = await webhookGateway(t, { a: config })
  const options = { delivery: 'd-1', timestamp: Math.floor(Date.now() / 1000) }
  const first = await postWebhook(app, 'a', agentMessage(messageId, displayId), options)
  const again = await postWebhook(app, 'a', agentMessage(messageId, displayId), options)
  t.same(first.body, { action: 'agent-message' })
  t.same(again, { status: 200, body: { action: 'ignored', duplicate: 'delivery' } }, '200: Chatwoot must not mark it failed')
  await app.close()
  t.equal(calls.length, 1)
})

test('signature off per instance: only at the token path, with a warning at start-up', async (t) => {
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const { config, displayId, messageId } = await agentReply(sim, account, 'unsigned@s.whatsapp.net')
  const token = 'path-token-0123456789abcdefXYZ'
  const { app: logged, logs } = appWithLogs()
  const { app, calls } = await webhookGateway(t, { old: config }, { app: logged, unsigned: { old: token } })
  t.match(await logs.waitFor(/UNSIGNED webhooks/), /"instance":"old"/)
  t.notOk(logs.lines.some((line) => line.includes(token)), 'the token is not logged')

  const unsigned = { headers: { 'x-chatwoot-signature': undefined, 'x-chatwoot-timestamp': undefined } }
  const taken = await postWebhook(app, 'old', agentMessage(messageId, displayId), { ...unsigned, path: `/chatwoot/webhooks/old/${token}` })
  t.same(taken, { status: 200, body: { action: 'agent-message' } })
  for (const path of ['/chatwoot/webhooks/old', `/chatwoot/webhooks/old/${token}x`]) {
    const refused = await postWebhook(app, 'old', agentMessage(messageId + 1, displayId), { ...unsigned, path })
    t.equal(refused.status, 401, path)
    t.match(refused.body, { code: CODE, message: /"old" refused: missing or wrong path token/ })
  }
  await app.close()
  t.equal(calls.length, 1)
})

test('options are checked, naming what they got', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{}, /option "onAgentMessage" must be a function, got a value of type undefined/],
    [{ onAgentMessage: () => {}, path: '/hooks' }, /option "path" must be a path starting with \/ that contains :instance, got "\/hooks"/],
    [{ onAgentMessage: () => {}, replayWindowMs: 0 }, /option "replayWindowMs" must be a number of milliseconds > 0, got 0/],
    [{ onAgentMessage: () => {}, unsigned: { old: 'short' } }, /option "unsigned\.old" must be a token of 24 to 200/]
  ]
  for (const [options, message] of cases) {
    const { webhooksOptions } = await import('../../lib/webhooks/options.js')
    t.throws(() => webhooksOptions(options as never), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message })
  }
})
