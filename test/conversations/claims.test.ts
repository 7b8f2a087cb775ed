import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Test, test } from 'tap'
import type { DeliveryInput, DeliveryResult } from '../../lib/index.js'
import type { ChatwootSimulator, CreatedAccount } from '../../lib/testing/index.js'
import { failure, gateway, instanceOf, REDIS_URL } from '../helpers/gateway.js'
import { simulatedAccount } from '../helpers/simulator.js'
import type { ClaimWorkerSettings } from './fixtures/claim-worker.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

// idempotency 'always': a claim whose holder died expires in about claimTtlMs, and the next delivery of
// that source_id looks in Chatwoot before posting; a holder that is alive keeps its claim however long it works.

const root = join(__dirname, '..', '..')
const WORKER = join(__dirname, 'fixtures', 'claim-worker.ts')
const CLAIM_TTL_MS = 1000

const message = (sourceId: string, content: string): DeliveryInput => ({ contact: { identifier: 'claimed', name: 'claimed' }, message: { content, source_id: sourceId } })

async function stored (sim: ChatwootSimulator, sourceId: string) {
  return sim.query<{ id: number }>('SELECT id FROM messages WHERE source_id = $1 ORDER BY id', [sourceId])
}

/** Starts the worker; resolves once the simulator logged its post with `fault`, and SIGKILLs it then. */
async function killedMidDelivery (t: Test, sim: ChatwootSimulator, account: CreatedAccount, settings: ClaimWorkerSettings,
  fault: 'dropAfterCommit' | 'resetBeforeCommit') {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(settings)], {
    cwd: root, env: { ...process.env, FCW_TEST_CHATWOOT_TOKEN: account.token }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += chunk })
  child.stderr.on('data', (chunk) => { output += chunk })
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const deadline = Date.now() + 60_000
  while (!sim.requests.some((request) => request.fault === fault)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the worker never posted: ${output}`)
    await sleep(10)
  }
  child.kill('SIGKILL')
  const killedAt = Date.now()
  t.equal(await exited, 'SIGKILL', 'the worker is killed mid-delivery, its claim held')
  t.notMatch(output, /delivered/, 'before it could settle its claim')
  return killedAt
}

for (const landed of [true, false]) {
  test(`a worker killed mid-delivery (its post ${landed ? 'landed' : 'never landed'}): the claim expires in about claimTtlMs, the redelivery looks before posting`, async (t) => {
    const { sim, account } = await simulatedAccount(t)
    const keyPrefix = `t${randomUUID()}:`
    const { app } = await gateway(t, {
      instances: { acme: instanceOf(sim, account) }, conversations: { keyPrefix, idempotency: 'always', claimTtlMs: CLAIM_TTL_MS }
    })
    const before = await app.chatwoot.deliver('acme', message('before', 'before'))
    const sourceId = `crash-${landed}`
    sim.faults.add({ method: 'POST', path: /\/messages$/, ...(landed ? { dropAfterCommit: true } : { resetBeforeCommit: true }) })
    sim.requests.length = 0
    const killedAt = await killedMidDelivery(t, sim, account, {
      url: sim.url, accountId: account.accountId, inboxId: account.inboxId, keyPrefix, identifier: 'claimed', sourceId, claimTtlMs: CLAIM_TTL_MS, redisUrl: REDIS_URL
    }, landed ? 'dropAfterCommit' : 'resetBeforeCommit')
    t.equal((await stored(sim, sourceId)).length, landed ? 1 : 0, landed ? 'its post is stored' : 'nothing stored')

    const early = await failure(app.chatwoot.deliver('acme', message(sourceId, 'redelivered')))
    t.match(early, { code: 'FST_CHATWOOT_DELIVERY_IN_FLIGHT', statusCode: 409 }, 'at once: 409, the dead worker\'s claim still runs')
    sim.requests.length = 0
    let result: DeliveryResult | undefined
    let refusals = 1
    while (result === undefined) {
      try {
        result = await app.chatwoot.deliver('acme', message(sourceId, 'redelivered'))
      } catch (error) {
        if ((error as { code?: string }).code !== 'FST_CHATWOOT_DELIVERY_IN_FLIGHT' || Date.now() - killedAt > 10_000) throw error
        refusals++
        await sleep(50)
      }
    }
    const waitedMs = Date.now() - killedAt
    t.ok(waitedMs <= CLAIM_TTL_MS + 1000, `the claim ran out ${waitedMs} ms after the kill (claimTtlMs ${CLAIM_TTL_MS}), after ${refusals} refusals`)
    const rows = await stored(sim, sourceId)
    t.equal(rows.length, 1, '0 duplicates: the source_id stored once')
    t.equal(result.message.id, rows[0]!.id, 'the result names the stored message')
    t.equal(result.conversationId, before.conversationId)
    t.equal(result.deduplicated, landed, landed ? 'deduplicated: the dead worker\'s post was found' : 'posted: nothing had landed')
    const firstRead = sim.requests.findIndex((request) => request.method === 'GET' && /\/messages$/.test(request.path))
    const posts = sim.requests.map((request, index) => ({ request, index })).filter(({ request }) => request.method === 'POST' && /\/messages$/.test(request.path))
    t.ok(firstRead >= 0, 'it looked in Chatwoot (the API: the instance has no database)')
    t.same(posts.length, landed ? 0 : 1, landed ? 'and posted nothing' : 'then posted once')
    t.ok(posts.every(({ index }) => index > firstRead), 'looking came before any post')
    const again = await app.chatwoot.deliver('acme', message(sourceId, 'once more'))
    t.match(again, { deduplicated: true, message: { id: rows[0]!.id } }, 'settled now: a later redelivery is deduplicated at once')
  })
}

test('a long delivery keeps its claim past claimTtlMs: a concurrent redelivery gets 409 FST_CHATWOOT_DELIVERY_IN_FLIGHT', async (t) => {
  const { sim, account } = await simulatedAccount(t)
  const keyPrefix = `t${randomUUID()}:`
  const options = { instances: { acme: instanceOf(sim, account) }, conversations: { keyPrefix, idempotency: 'always' as const, claimTtlMs: CLAIM_TTL_MS } }
  // Two workers of one gateway: within one process the second would queue behind the first instead.
  const one = await gateway(t, options)
  const two = await gateway(t, options)
  await one.app.chatwoot.deliver('acme', message('before', 'before'))
  sim.faults.add({ method: 'POST', path: /\/messages$/, delayMs: 3 * CLAIM_TTL_MS })

  const startedAt = Date.now()
  const long = one.app.chatwoot.deliver('acme', message('long', 'slow to post'))
  const refusals: Array<{ atMs: number, code?: string }> = []
  while (Date.now() - startedAt < 2.5 * CLAIM_TTL_MS) {
    await sleep(CLAIM_TTL_MS / 4)
    const error = await failure(two.app.chatwoot.deliver('acme', message('long', 'concurrent')))
    refusals.push({ atMs: Date.now() - startedAt, code: error.code })
  }
  const delivered = await long
  t.ok(refusals.some((refusal) => refusal.atMs > 2 * CLAIM_TTL_MS), 'redeliveries were tried well past claimTtlMs')
  t.same(new Set(refusals.map((refusal) => refusal.code)), new Set(['FST_CHATWOOT_DELIVERY_IN_FLIGHT']),
    `every one of the ${refusals.length} got 409: the watchdog kept the claim alive`)
  t.equal(delivered.deduplicated, false)
  t.same((await stored(sim, 'long')).map((row) => row.id), [delivered.message.id], 'stored once')
  const after = await two.app.chatwoot.deliver('acme', message('long', 'after'))
  t.match(after, { deduplicated: true, message: { id: delivered.message.id } }, 'once settled, a redelivery is deduplicated')
})
