// The demo's outbox steps (`?queue=1`): a Chatwoot down for a while, a second worker process killed
// mid-run, and a flood to one contact under a per-minute limit. Each answers 202 at once and is checked
// later in Chatwoot's own tables.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createChatwootSimulator, type ChatwootSimulator, type CreatedAccount } from 'fastify-chatwoot/testing'
import type { DemoWorkerSettings } from './demo-worker.js'

export interface Outcome { step: string, expected: string, observed: string, ok: boolean }
export type Post = (path: string, body: unknown) => Promise<{ status: number, text: string, json: any }>

/** The flood's limit: low, so a short demo still meets Chatwoot's "Too many messages" window. */
const FLOOD_LIMIT = 5
const FLOOD_COUNT = 8

async function until (done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return true
}

const contentsOf = async (chatwoot: ChatwootSimulator, account: CreatedAccount, identifier: string) => (await chatwoot.query(
  `SELECT m.content FROM messages m JOIN conversations cv ON cv.id = m.conversation_id JOIN contacts c ON c.id = cv.contact_id
    WHERE c.identifier = $1 AND m.account_id = $2 ORDER BY m.id`, [identifier, account.accountId])).map((row) => row.content as string)

/**
 * Chatwoot answers 503 to every message for `downMs` while 6 messages are queued; the workers back off
 * and deliver them all, once and in order, when it comes back.
 */
export async function chatwootDown (chatwoot: ChatwootSimulator, account: CreatedAccount, post: Post, downMs = 3000): Promise<Outcome> {
  const dave = { identifier: '5511999990004@s.whatsapp.net', name: 'Dave' }
  chatwoot.faults.add({ method: 'POST', path: /\/messages$/, status: 503, times: Infinity })
  const before = chatwoot.requests.length
  const sent = Array.from({ length: 6 }, (_, index) => `queued while down ${index + 1}`)
  const answers: Array<Awaited<ReturnType<Post>>> = []
  for (const content of sent) answers.push(await post('/instances/acme/messages?queue=1', { contact: dave, message: { content } }))
  await new Promise((resolve) => setTimeout(resolve, downMs))
  const refused = chatwoot.requests.slice(before).filter((request) => request.status === 503).length
  chatwoot.faults.clear()
  console.log(`   ${answers.filter((answer) => answer.status === 202).length} answered 202 (queued); Chatwoot refused ${refused} attempt(s) in ${downMs / 1000} s, then came back`)
  const delivered = await until(async () => (await contentsOf(chatwoot, account, dave.identifier)).length >= sent.length, 20_000)
  const stored = await contentsOf(chatwoot, account, dave.identifier)
  return {
    step: 'Chatwoot down, then back',
    expected: '202 each, all 6 delivered after, in order',
    observed: `${answers.filter((answer) => answer.status === 202).length} x 202, ${refused} refused attempts, ${stored.length} stored${delivered ? '' : ' (timed out)'}, ${JSON.stringify(stored) === JSON.stringify(sent) ? 'in order' : 'OUT OF ORDER'}`,
    ok: answers.every((answer) => answer.status === 202) && refused > 0 && JSON.stringify(stored) === JSON.stringify(sent)
  }
}

/**
 * A second Chatwoot that takes FLOOD_LIMIT messages a minute per conversation. Started early and
 * checked last: its window is a minute long, and the other steps run meanwhile.
 */
export async function startFlood (post: Post, database: string | undefined) {
  const chatwoot = await createChatwootSimulator({ messagesPerMinute: FLOOD_LIMIT, ...(database === undefined ? {} : { database }) })
  try {
    const account = await chatwoot.createAccount()
    const added = await post('/instances', {
      name: 'limited', chatwootUrl: chatwoot.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token, databaseUrl: chatwoot.databaseUrl
    })
    if (added.status !== 201) throw new Error(`adding the instance "limited" failed: ${added.text}`)
    const erin = { identifier: '5511999990005@s.whatsapp.net', name: 'Erin' }
    const sent = Array.from({ length: FLOOD_COUNT }, (_, index) => `flood ${index + 1} of ${FLOOD_COUNT}`)
    const answers: Array<Awaited<ReturnType<Post>>> = []
    for (const content of sent) answers.push(await post('/instances/limited/messages?queue=1', { contact: erin, message: { content } }))
    const started = Date.now()
    console.log(`   ${FLOOD_COUNT} messages to Erin queued on instance "limited", whose Chatwoot takes ${FLOOD_LIMIT} a minute per conversation; checked at the end`)
    return {
      async check (): Promise<Outcome> {
        try {
          const delivered = await until(async () => (await contentsOf(chatwoot, account, erin.identifier)).length >= FLOOD_COUNT, 75_000)
          const stored = await contentsOf(chatwoot, account, erin.identifier)
          const refused = chatwoot.requests.filter((request) => request.status === 422).length
          const seconds = ((Date.now() - started) / 1000).toFixed(0)
          console.log(`   Erin's ${stored.length} messages stored in ${seconds} s; Chatwoot refused ${refused} post(s) as too many, each waited for the window`)
          return {
            step: `flood under ${FLOOD_LIMIT}/min`,
            expected: `202 each, all ${FLOOD_COUNT} delivered, paced, in order`,
            observed: `${answers.filter((answer) => answer.status === 202).length} x 202, ${stored.length} stored in ${seconds} s${delivered ? '' : ' (timed out)'}, ${refused} refused, ${JSON.stringify(stored) === JSON.stringify(sent) ? 'in order' : 'OUT OF ORDER'}`,
            ok: answers.every((answer) => answer.status === 202) && JSON.stringify(stored) === JSON.stringify(sent) && refused <= 2
          }
        } finally {
          await chatwoot.close()
        }
      }
    }
  } catch (error) {
    await chatwoot.close()
    throw error
  }
}

/** The killed worker's lease: short, so its lanes are taken over within seconds (the library's default is 30 s). */
const KILLED_LEASE_MS = 2500
// More lanes than the gateway's workers take at once (their loops, the webhooks' included), so the second
// worker always finds some: with as many lanes as loops, the gateway, woken by its own enqueues, took them all.
const KILL_CONTACTS = 16
const KILL_PER_CONTACT = 4

export interface WorkerKilledOptions {
  /** What the second worker needs to join the gateway: its database, cache and outbox pool size. */
  worker: Pick<DemoWorkerSettings, 'databaseUrl' | 'redisUrl' | 'keyPrefix' | 'outboxPoolMax'>
  /** A query on the gateway's database, where the outbox's tables are. */
  query: (sql: string, values?: unknown[]) => Promise<any[]>
}

/** Starts examples/demo-worker.ts; `delivered` counts its deliveries as it prints them. */
function startWorker (settings: DemoWorkerSettings) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'demo-worker.ts'), JSON.stringify(settings)], {
    cwd: join(__dirname, '..'), stdio: ['ignore', 'pipe', 'pipe']
  })
  const state = { delivered: 0, stderr: '' }
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)))
  let pending = ''
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n')
      pending = lines.pop()!
      for (const line of lines) {
        if (line === 'ready') resolve()
        if (line.startsWith('delivered ')) state.delivered++
      }
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { state.stderr += chunk })
    exited.then((how) => reject(new Error(`the second worker exited (${how}) before it was ready: ${state.stderr}`)), reject)
  })
  const kill = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
  return { state, ready, exited, kill }
}

/**
 * A second worker process (another replica of the gateway) drains a backlog of 16 contacts x 4 messages
 * beside the gateway's own workers, each post taking 200 ms in Chatwoot; it is SIGKILLed after some of its
 * deliveries, holding leases. Its lanes wait for their leases to expire, then the gateway's workers take
 * them over, checking Chatwoot before posting anything the dead worker may have posted: each message once,
 * in order per contact, one conversation each.
 */
export async function workerKilled (chatwoot: ChatwootSimulator, account: CreatedAccount, post: Post, options: WorkerKilledOptions): Promise<Outcome> {
  const { query } = options
  const began = Date.now()
  const worker = startWorker({ ...options.worker, concurrency: 4, leaseMs: KILLED_LEASE_MS, clientTimeoutMs: 1000 })
  try {
    await worker.ready
    chatwoot.faults.add({ method: 'POST', path: /\/messages$/, delayMs: 200, times: Infinity })
    const contacts = Array.from({ length: KILL_CONTACTS }, (_, index) => ({ identifier: `5511999990${String(100 + index)}@s.whatsapp.net`, name: `Reader ${index + 1}` }))
    const sent = new Map(contacts.map((contact) => [contact.identifier, [] as string[]]))
    const answers: Array<Awaited<ReturnType<Post>>> = []
    for (let index = 0; index < KILL_PER_CONTACT; index++) {
      for (const [number, contact] of contacts.entries()) {
        const content = `reader ${number + 1}: ${index + 1} of ${KILL_PER_CONTACT}`
        answers.push(await post('/instances/acme/messages?queue=1', { contact, message: { content, source_id: `wamid.demo-kill-${number}-${index}` } }))
        sent.get(contact.identifier)!.push(content)
      }
    }
    const total = KILL_CONTACTS * KILL_PER_CONTACT
    if (!(await until(async () => worker.state.delivered >= 3, 15_000))) throw new Error(`the second worker delivered ${worker.state.delivered} in 15 s: ${worker.state.stderr}`)
    worker.kill()
    const killedAt = Date.now()
    const how = await worker.exited
    const deliveredBefore = worker.state.delivered
    // Its lanes: the gateway's own leases are 30 s long (renewed at a third), the killed worker's 2.5 s.
    const held = await query(`SELECT lane, lease_owner, extract(epoch FROM lease_until - now()) * 1000 AS left_ms FROM chatwoot_outbox.lanes
      WHERE instance = 'acme' AND lease_until > now() AND lease_until < now() + interval '10 seconds'`)
    const takenOver = await until(async () => (await query('SELECT count(*)::int AS n FROM chatwoot_outbox.lanes WHERE instance = \'acme\' AND lease_owner = ANY($1)',
      [held.map((row) => row.lease_owner)]))[0].n === 0, 15_000)
    const takenOverMs = Date.now() - killedAt
    const leaseLeftMs = Math.max(0, ...held.map((row) => Number(row.left_ms)))
    const drained = await until(async () => (await query('SELECT count(*)::int AS n FROM chatwoot_outbox.entries WHERE source_id LIKE \'wamid.demo-kill-%\' AND state = \'delivered\'', []))[0].n === total, 20_000)
    const [facts] = await query(`SELECT count(*) FILTER (WHERE last_error_code = 'FST_CHATWOOT_OUTBOX_TAKEN_OVER')::int AS waited,
      count(*) FILTER (WHERE deduplicated)::int AS found, count(*) FILTER (WHERE state <> 'delivered')::int AS undelivered
      FROM chatwoot_outbox.entries WHERE source_id LIKE 'wamid.demo-kill-%'`)
    const stored = await Promise.all(contacts.map((contact) => contentsOf(chatwoot, account, contact.identifier)))
    const inOrder = contacts.every((contact, index) => JSON.stringify(stored[index]) === JSON.stringify(sent.get(contact.identifier)))
    const storedCount = stored.reduce((sum, contents) => sum + contents.length, 0)
    const [conversations] = await chatwoot.query(`SELECT count(DISTINCT cv.id)::int AS n FROM conversations cv JOIN contacts c ON c.id = cv.contact_id
      WHERE c.identifier = ANY($1) AND cv.account_id = $2`, [contacts.map((contact) => contact.identifier), account.accountId])
    console.log(`   ${answers.filter((answer) => answer.status === 202).length} queued for ${KILL_CONTACTS} contacts; the second worker delivered ${deliveredBefore} and was killed (${how}) holding ${held.length} lane(s), ` +
      `whose leases had ${(leaseLeftMs / 1000).toFixed(1)} s left; the gateway's workers took them over ${(takenOverMs / 1000).toFixed(1)} s after the kill`)
    console.log(`   ${facts.waited} post(s) under way at the kill were checked in Chatwoot before posting (${facts.found} found already stored); ${storedCount} stored in ${conversations.n} conversation(s), ${((Date.now() - began) / 1000).toFixed(1)} s for the step`)
    return {
      step: 'a worker killed mid-run',
      expected: `all ${total} delivered once, in order per contact, its lanes taken over after the lease`,
      observed: `killed after ${deliveredBefore} deliveries holding ${held.length} lane(s), taken over in ${(takenOverMs / 1000).toFixed(1)} s${takenOver ? '' : ' (timed out)'}, ` +
        `${storedCount} of ${total} stored${drained ? '' : ' (timed out)'}, ${inOrder ? 'each once, in order' : 'NOT ONCE IN ORDER'}`,
      ok: answers.every((answer) => answer.status === 202) && how === 'SIGKILL' && deliveredBefore > 0 && held.length > 0 && takenOver &&
        drained && inOrder && storedCount === total && facts.undelivered === 0 && conversations.n === KILL_CONTACTS
    }
  } finally {
    chatwoot.faults.clear()
    worker.kill()
    await worker.exited
  }
}
