// examples/gateway: a change made through one gateway reaches the others sharing its Redis at
// once, not after their instancesTtl.
import { test } from 'tap'
import { testDatabase } from '../helpers/app.js'
import { startSimulator } from '../helpers/simulator.js'
import type { FastifyInstance } from 'fastify'
import { addInstance, message, postMessage, startGateway } from './fixture.js'

/** The next instance name `app` forgets; fails after 5 s rather than waiting for the test's timeout. */
function nextChange (app: FastifyInstance): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error('no change heard within 5 s')) }, 5000)
    const stop = app.chatwootInstances.onChange((name) => { clearTimeout(timer); stop(); resolve(name) })
  })
}

test('a token changed through gateway A is used by gateway B at its next message', async (t) => {
  const db = await testDatabase(t)
  const sim = await startSimulator(t)
  const account = await sim.createAccount()
  const keyPrefix = `gw-changes-${process.pid}-${Date.now()}:`
  // An hour: without the announcement, B would keep the old token for the whole test.
  const [a, b] = await Promise.all([
    startGateway(t, db.url, { keyPrefix, instancesTtl: 3_600_000 }),
    startGateway(t, db.url, { keyPrefix, instancesTtl: 3_600_000 })
  ])
  await addInstance(a.app, sim, account)
  t.equal((await postMessage(b.app, message('alice', 'before'))).statusCode, 200, 'B delivers with the first token')

  const heard = nextChange(b.app)
  await addInstance(a.app, sim, account, { token: 'revoked-token' })
  t.equal(await heard, 'acme', 'B forgot its copy of acme')
  const refused = await postMessage(b.app, message('alice', 'after'))
  t.equal(refused.statusCode, 502, 'B now uses the changed token')
  t.equal(refused.json().code, 'FST_CHATWOOT_UNAUTHORIZED')

  const heardByA = nextChange(a.app)
  await addInstance(b.app, sim, account)
  t.equal(await heardByA, 'acme', 'and the other way round')
  t.equal((await postMessage(a.app, message('alice', 'fixed'))).statusCode, 200, 'A delivers with the token B restored')
  const stored = await sim.query('SELECT content FROM messages WHERE account_id = $1 ORDER BY id', [account.accountId])
  t.same(stored.map((row) => row.content), ['before', 'fixed'], 'nothing stored with the revoked token')
})
