import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { test } from 'tap'
import type { DeliveryInput } from '../../lib/index.js'
import { testDatabase } from '../helpers/app.js'
import { cuttableProxy } from '../helpers/cut-proxy.js'
import { deleteKeys, REDIS_URL } from '../helpers/gateway.js'
import { startTestProcess, type TestProcess } from '../helpers/processes.js'
import { startSimulator } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'
import type { AliasAnswer } from './fixtures/alias-worker.js'
import type { AliasOutageWorkerSettings } from './fixtures/alias-outage-worker.js'
import { checkPersonRun } from './fixtures/person-run.js'

usesServers('postgres', 'redis')

const WORKER = join(__dirname, 'fixtures', 'alias-outage-worker.ts')
// Messages 1 and 2 come under one id each; from the third on, pairs carry the mapping: the first PAIRS/3
// with Redis up, the next third with Redis cut off from both processes, the last third with Redis back.
const PAIRS = 12

/** One delivery a line, answered in order: resolves with the process's answer to this one. */
function deliverer (worker: TestProcess) {
  let answered = 0
  return async (input: DeliveryInput): Promise<AliasAnswer> => {
    const index = answered++
    worker.child.stdin!.write(`${JSON.stringify(input)}\n`)
    const deadline = Date.now() + 60_000
    while (worker.lines.filter((line) => line.startsWith('{')).length <= index) {
      if (Date.now() > deadline) throw new Error(`no answer to ${String(input.message.source_id)}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    return JSON.parse(worker.lines.filter((line) => line.startsWith('{'))[index]!)
  }
}

for (const merge of [false, true]) {
  const lid = merge ? `9${randomUUID().slice(0, 8)}@lid` : `1${randomUUID().slice(0, 8)}@lid`
  test(`two processes, lid and phone id alternating, the mapping from the third message, Redis down for a third of the run (merge: ${merge})`,
    { timeout: 180_000 }, async (t) => {
      const sim = await startSimulator(t, { messagesPerMinute: 100000 })
      const account = await sim.createAccount()
      const database = await testDatabase(t)
      const redisUrl = new URL(REDIS_URL)
      const proxy = await cuttableProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) })
      const keyPrefix = `t${randomUUID()}:`
      const phoneId = '5511999990002@s.whatsapp.net'
      const contact = (which: 'lid' | 'phone', linked: boolean) => ({
        identifier: which === 'lid' ? lid : phoneId,
        name: 'Ana',
        ...(linked ? { aliases: [which === 'lid' ? phoneId : lid] } : {})
      })
      const settings: AliasOutageWorkerSettings = {
        url: sim.url, accountId: account.accountId, inboxId: account.inboxId, redisUrl: `redis://127.0.0.1:${proxy.port}`, keyPrefix, merge, databaseUrl: database.url
      }
      const workers = [startTestProcess(WORKER, settings, account.token, 'worker one'), startTestProcess(WORKER, settings, account.token, 'worker two')]
      t.teardown(async () => {
        for (const { child } of workers) child.kill('SIGKILL')
        await Promise.all(workers.map((worker) => worker.exited))
        await proxy.close()
        const redis = new Redis(REDIS_URL)
        await deleteKeys(redis, keyPrefix)
        await redis.quit()
      })
      await Promise.all(workers.map((worker) => worker.ready))
      const [one, two] = workers.map(deliverer) as [ReturnType<typeof deliverer>, ReturnType<typeof deliverer>]
      const message = (index: number) => ({ content: `message ${index}`, source_id: `${keyPrefix}m${index}` })

      const first = await one({ contact: contact('lid', false), message: message(1) })
      const second = await two({ contact: contact('phone', false), message: message(2) })
      t.not(first.conversationId, second.conversationId, 'two conversations before the mapping')

      const answers: AliasAnswer[] = []
      for (let pair = 0; pair < PAIRS; pair++) {
        if (pair === PAIRS / 3) proxy.cut()
        if (pair === (PAIRS * 2) / 3) proxy.restore()
        const index = 3 + pair * 2
        answers.push(...await Promise.all([
          one({ contact: contact(pair % 2 === 0 ? 'lid' : 'phone', true), message: message(index) }),
          two({ contact: contact(pair % 2 === 0 ? 'phone' : 'lid', true), message: message(index + 1) })
        ]))
      }
      await checkPersonRun(t, { sim, account, answers, before: [message(1).source_id, message(2).source_id], pairs: PAIRS, merge })

      // Each process noticed the outage (and its lock went to Postgres), and printed no token.
      for (const worker of workers) worker.child.stdin!.end()
      const outputs = await Promise.all(workers.map((worker) => worker.exited))
      for (const [index, { stderr }] of outputs.entries()) {
        t.match(stderr, /Redis unavailable: .*the get-or-create lock is taken in Postgres/, `process ${index + 1} saw Redis go`)
        t.notOk(stderr.includes(account.token), `process ${index + 1} printed no token`)
      }
    })
}
