import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'
import { test } from 'tap'
import type { DeliveryInput } from '../../lib/index.js'
import { deleteKeys, REDIS_URL } from '../helpers/gateway.js'
import { startSimulator } from '../helpers/simulator.js'
import { usesServers } from '../setup/servers.js'
import type { AliasAnswer, AliasWorkerSettings } from './fixtures/alias-worker.js'
import { checkPersonRun } from './fixtures/person-run.js'

usesServers('postgres', 'redis')

const root = join(__dirname, '..', '..')
const WORKER = join(__dirname, 'fixtures', 'alias-worker.ts')
// Messages 1 and 2 come under one id each, unlinked; from the third on every message carries the mapping.
const PAIRS = 12

interface Worker {
  child: ChildProcess
  ready: Promise<void>
  /** Sends one delivery and resolves with the worker's answer to it (answers come in order). */
  deliver (input: DeliveryInput): Promise<AliasAnswer>
}

function startWorker (settings: AliasWorkerSettings, token: string, stderr: string[]): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(settings)], {
    cwd: root,
    // The token travels in the environment only.
    env: { ...process.env, FCW_TEST_CHATWOOT_TOKEN: token },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const waiting: Array<(answer: AliasAnswer) => void> = []
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => { markReady = resolve })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'ready') markReady()
    else if (line.startsWith('{')) waiting.shift()?.(JSON.parse(line))
  })
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => stderr.push(chunk))
  return {
    child,
    ready,
    deliver: (input) => new Promise((resolve) => {
      waiting.push(resolve)
      child.stdin!.write(`${JSON.stringify(input)}\n`)
    })
  }
}

for (const merge of [false, true]) {
  // The lid sorts before the phone id in one run and after it in the other, so either can be the canonical id.
  const lid = merge ? `9${randomUUID().slice(0, 8)}@lid` : `1${randomUUID().slice(0, 8)}@lid`
  test(`two processes, messages alternating under a lid and a phone id, the mapping known from the third on (merge: ${merge})`,
    { timeout: 120000 }, async (t) => {
      const sim = await startSimulator(t, { messagesPerMinute: 100000 })
      const account = await sim.createAccount()
      const keyPrefix = `t${randomUUID()}:`
      const phoneId = '5511999990001@s.whatsapp.net'
      const contact = (which: 'lid' | 'phone', linked: boolean) => ({
        identifier: which === 'lid' ? lid : phoneId,
        name: 'Ana',
        ...(which === 'phone' ? { phone_number: '+5511999990001' } : {}),
        ...(linked ? { aliases: [which === 'lid' ? phoneId : lid] } : {})
      })
      const stderr: string[] = []
      const settings = { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, redisUrl: REDIS_URL, keyPrefix, merge }
      const workers = [startWorker(settings, account.token, stderr), startWorker(settings, account.token, stderr)]
      t.teardown(async () => {
        for (const { child } of workers) child.kill('SIGKILL')
        const redis = new Redis(REDIS_URL)
        await deleteKeys(redis, keyPrefix)
        await redis.quit()
      })
      await Promise.all(workers.map((worker) => worker.ready))
      const [one, two] = workers as [Worker, Worker]
      const message = (index: number) => ({ content: `message ${index}`, source_id: `${keyPrefix}m${index}` })

      // Before the mapping: each id makes its own contact and conversation, as it would in production.
      const first = await one.deliver({ contact: contact('lid', false), message: message(1) })
      const second = await two.deliver({ contact: contact('phone', false), message: message(2) })
      t.not(first.conversationId, second.conversationId, 'two conversations before the mapping')

      // From the third message on, both processes deliver at once: one under the lid, one under the phone id.
      const answers: AliasAnswer[] = []
      for (let pair = 0; pair < PAIRS; pair++) {
        const index = 3 + pair * 2
        answers.push(...await Promise.all([
          one.deliver({ contact: contact(pair % 2 === 0 ? 'lid' : 'phone', true), message: message(index) }),
          two.deliver({ contact: contact(pair % 2 === 0 ? 'phone' : 'lid', true), message: message(index + 1) })
        ]))
      }
      t.notOk(stderr.join('').includes(account.token), 'no process printed the token')
      await checkPersonRun(t, { sim, account, answers, before: [message(1).source_id, message(2).source_id], pairs: PAIRS, merge })
    })
}
