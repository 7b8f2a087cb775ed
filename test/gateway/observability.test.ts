// examples/gateway: GET /metrics, GET /health, and two gateways sharing one database and one
// Redis prefix.
import parsePrometheus from 'parse-prometheus-text-format'
import { test } from 'tap'
import { testDatabase } from '../helpers/app.js'
import { startSimulator } from '../helpers/simulator.js'
import { addInstance, answerOf, message, postMessage, setup, startGateway, storedMessages, tally } from './fixture.js'

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"'
const VALUE = '[-+]?(?:\\d+(?:\\.\\d*)?(?:[eE][-+]?\\d+)?|\\.\\d+(?:[eE][-+]?\\d+)?|NaN|Inf)'
/** `name{label="value",...} value [timestamp]`, as the text exposition format 0.0.4 has it. */
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (${VALUE})(?: -?\\d+)?$`)
const COMMENT = new RegExp(`^# (HELP|TYPE) (${NAME})(?: (.*))?$`)
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

interface Sample { name: string, labels: Record<string, string>, value: number }

/**
 * Checks every line of an exposition against the grammar, and that every sample belongs to a
 * family declared with HELP and TYPE before it. Returns the samples and the problems found.
 */
function readExposition (text: string) {
  const problems: string[] = []
  const help = new Map<string, string>()
  const type = new Map<string, string>()
  const samples: Sample[] = []
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  else problems.push('the text does not end with a line feed')
  lines.forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`
    if (line === '') return
    if (line.startsWith('#')) {
      const comment = COMMENT.exec(line)
      if (comment === null) return problems.push(`${where}: not a HELP or TYPE comment`)
      const [, kind, name, rest = ''] = comment
      const seen = kind === 'HELP' ? help : type
      if (seen.has(name!)) problems.push(`${where}: a second ${kind} for ${name}`)
      if (kind === 'TYPE' && !TYPES.has(rest)) problems.push(`${where}: unknown type`)
      if (kind === 'HELP' && rest.trim() === '') problems.push(`${where}: empty help`)
      if (samples.some((sample) => familyOf(sample.name, type) === name)) problems.push(`${where}: ${kind} after the family's samples`)
      seen.set(name!, rest)
      return
    }
    const match = SAMPLE.exec(line)
    if (match === null) return problems.push(`${where}: not a sample line`)
    const [, name, labelText = '', value] = match
    const labels: Record<string, string> = {}
    for (const [, label, raw] of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"/g)) {
      if (label! in labels) problems.push(`${where}: label ${label} twice`)
      labels[label!] = raw!.replace(/\\(.)/g, (_, character: string) => character === 'n' ? '\n' : character)
    }
    const family = familyOf(name!, type)
    if (family === undefined) problems.push(`${where}: no TYPE declared before it`)
    else if (!help.has(family)) problems.push(`${where}: no HELP declared for ${family}`)
    samples.push({ name: name!, labels, value: Number(value!.replace(/^([-+]?)Inf$/, '$1Infinity')) })
  })
  return { problems, samples, help, type }
}

/** The family a sample line belongs to (a histogram's _bucket, _sum and _count lines belong to it). */
function familyOf (name: string, type: Map<string, string>): string | undefined {
  if (type.has(name)) return name
  const base = name.replace(/_(bucket|sum|count)$/, '')
  return base !== name && type.get(base) === 'histogram' ? base : undefined
}

test('the exposition check below refuses what the format refuses', async (t) => {
  const head = '# HELP x_total Things.\n# TYPE x_total counter\n'
  t.same(readExposition(`${head}x_total{a="1",b="q\\"uote"} 3\nx_total 4.5e-3\n`).problems, [], 'a valid text passes')
  const bad: Array<[string, string]> = [
    ['no HELP', '# TYPE x_total counter\nx_total 1\n'],
    ['no TYPE', '# HELP x_total Things.\nx_total 1\n'],
    ['unquoted label', `${head}x_total{a=1} 1\n`],
    ['no value', `${head}x_total{a="1"}\n`],
    ['a word as value', `${head}x_total one\n`],
    ['a bad name', `${head}x-total 1\n`],
    ['another comment', `${head}# just a note\nx_total 1\n`],
    ['a label twice', `${head}x_total{a="1",a="2"} 1\n`],
    ['no final line feed', `${head}x_total 1`],
    ['TYPE after samples', '# HELP y Y.\n# TYPE y gauge\ny 1\n# TYPE y gauge\n']
  ]
  for (const [what, text] of bad) t.not(readExposition(text).problems.length, 0, `${what}: refused`)
})

test('GET /metrics: valid Prometheus text; after N deliveries the counter says N and the histogram saw N createMessage calls', async (t) => {
  const { sim, account, app } = await setup(t)
  await addInstance(app, sim, account)
  // One createMessage answered 503 before it is handled: the client checks and sends it again.
  sim.faults.add({ method: 'POST', path: /\/messages$/, status: 503 })
  const N = 6
  for (let index = 0; index < N; index++) {
    const answer = await postMessage(app, message(`contact-${index % 3}`, `m${index}`))
    t.equal(answer.statusCode, 200, `delivery ${index + 1}`)
  }
  t.equal((await storedMessages(sim, account)).length, N, `${N} messages stored`)

  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4; charset=utf-8$/, 'Prometheus text format 0.0.4')
  const { problems, samples, help, type } = readExposition(response.body)
  t.same(problems, [], 'every line follows the exposition grammar; every family has HELP and TYPE before its samples')
  t.same([...type.keys()].sort(), [...help.keys()].sort(), 'a HELP for each TYPE')
  t.same(Object.fromEntries(type), {
    chatwoot_conversation_events_total: 'counter',
    chatwoot_request_duration_seconds: 'histogram',
    instance_pg_pools: 'gauge',
    instance_pg_connections: 'gauge',
    chatwoot_outbox_queued: 'gauge',
    chatwoot_outbox_in_flight: 'gauge',
    chatwoot_outbox_dead: 'gauge',
    chatwoot_outbox_paused_instances: 'gauge',
    chatwoot_outbox_oldest_queued_age_seconds: 'gauge'
  }, 'the gateway\'s four families and the outbox\'s five gauges')

  const families = parsePrometheus(response.body)
  t.same(families.map((family) => family.name).sort(), [...type.keys()].sort(), 'the parser reads the same families')
  t.ok(families.every((family) => family.help.length > 0 && family.type === type.get(family.name)!.toUpperCase()), 'with their help and type')
  const events = Object.fromEntries(families.find((family) => family.name === 'chatwoot_conversation_events_total')!.metrics
    .map((metric) => [metric.labels!.event, Number(metric.value)]))
  t.equal(events.deliveries, N, `chatwoot_conversation_events_total{event="deliveries"} is ${N}`)
  t.match(events, { misses: 3, hits: N - 3, creates: 3, failures: 0, recoveries: 0 }, 'and the other events agree with what was sent')
  t.same(samples.filter((sample) => sample.name === 'chatwoot_conversation_events_total').map((sample) => [sample.labels.event, sample.value]),
    Object.entries(events), 'the line-by-line reading gives the same counter')
  const pools = families.find((family) => family.name === 'instance_pg_pools')!
  t.same(pools.metrics.map((metric) => metric.value), ['0'], 'no instance pool (no instance has a database)')

  // parse-prometheus-text-format folds a histogram's label sets into one: read these lines directly.
  const histogram = samples.filter((sample) => sample.name.startsWith('chatwoot_request_duration_seconds_'))
  const count = (operation: string, status: string) => histogram.find((sample) =>
    sample.name.endsWith('_count') && sample.labels.operation === operation && sample.labels.status === status)?.value ?? 0
  t.ok(count('createMessage', '200') >= N, `createMessage answered 200 at least ${N} times (${count('createMessage', '200')})`)
  t.equal(count('createMessage', '503'), 1, 'the one 503 is its own series')
  for (const series of histogram.filter((sample) => sample.name.endsWith('_count'))) {
    const { operation, status } = series.labels
    const buckets = histogram.filter((sample) => sample.name.endsWith('_bucket') && sample.labels.operation === operation && sample.labels.status === status)
    const values = buckets.map((bucket) => bucket.value)
    t.ok(values.every((value, index) => index === 0 || value >= values[index - 1]!), `${operation}/${status}: buckets never decrease`)
    t.equal(buckets.at(-1)?.labels.le, '+Inf', `${operation}/${status}: the last bucket is +Inf`)
    t.equal(values.at(-1), series.value, `${operation}/${status}: +Inf equals _count`)
  }
})

test('GET /health: Postgres and Redis checked; an instance\'s pool listed by name, its password masked', async (t) => {
  const { sim, account, app } = await setup(t)
  const health = async () => {
    const response = await app.inject('/health')
    return { status: response.statusCode, body: response.json(), text: response.body }
  }
  const before = await health()
  t.equal(before.status, 200)
  t.match(before.body, {
    status: 'ok',
    postgres: { ok: true, ms: Number },
    redis: { ok: true, ms: Number },
    instancePools: { pools: 0, totalConnections: 0, idleConnections: 0, waiting: 0, created: 0, evicted: 0 },
    pools: []
  })

  // The simulator's own Chatwoot database, with a password in the URL (trust auth ignores it).
  const databaseUrl = new URL(sim.databaseUrl)
  if (databaseUrl.password === '') databaseUrl.password = 'pool-secret-5521'
  const password = decodeURIComponent(databaseUrl.password)
  await addInstance(app, sim, account, { databaseUrl: databaseUrl.toString() })
  t.equal((await postMessage(app, message('alice', 'plain'))).statusCode, 200)
  t.equal((await health()).body.instancePools.created, 0, 'a plain delivery opens no pool: pools are lazy')

  // The answer to a create is lost: the gateway looks in the instance's database before sending it again.
  sim.faults.add({ method: 'POST', path: /\/messages$/, dropAfterCommit: true })
  sim.requests.length = 0
  const lost = answerOf(await postMessage(app, message('alice', 'answer lost')))
  t.equal(lost.status, 200)
  t.match(lost.body, { deduplicated: true, cache: 'hit' }, 'found stored, not sent again')
  t.same((await storedMessages(sim, account)).map((row) => row.content), ['plain', 'answer lost'], 'stored exactly once')
  t.notOk(sim.requests.some((request) => request.method === 'GET'), 'the lookup went to the database, not to the API')

  const after = await health()
  t.equal(after.status, 200)
  t.match(after.body, { status: 'ok', instancePools: { pools: 1, created: 1 } })
  t.equal(after.body.pools.length, 1, 'one pool')
  const [pool] = after.body.pools
  t.same(pool.instances, ['acme'], 'bound to the instance by name')
  t.match(pool, { totalConnections: Number, idleConnections: Number, waiting: 0, idleForMs: Number })
  t.notOk(pool.target.includes(password), 'its target has no password')
  const masked = new URL(databaseUrl)
  masked.password = '***'
  t.equal(pool.target, masked.toString(), 'the URL with its password masked: server and database still named')
  t.notOk(after.text.includes(password), 'the password is nowhere in the answer')
  const metrics = await app.inject('/metrics')
  t.match(metrics.body, /^instance_pg_pools 1$/m, '/metrics counts the pool too')
})

test('GET /health without redisUrl: the in-process mode, and deliveries still cached', async (t) => {
  const { sim, account, app } = await setup(t, { redis: false })
  await addInstance(app, sim, account)
  const response = await app.inject('/health')
  t.equal(response.statusCode, 200)
  t.match(response.json(), { status: 'ok', postgres: { ok: true }, redis: { mode: /in-process/ }, pools: [] })
  t.notOk('ok' in response.json().redis, 'no Redis check reported')
  const first = await postMessage(app, message('alice', 'one'))
  const second = await postMessage(app, message('alice', 'two'))
  t.same([first.json().cache, second.json().cache], ['miss', 'hit'], 'cached in the process')
  t.equal(second.json().conversationId, first.json().conversationId)
})

test('two gateways on one database and one Redis prefix: 100 concurrent first messages of a new contact make one conversation', async (t) => {
  const db = await testDatabase(t)
  const sim = await startSimulator(t, { messagesPerMinute: 1000 })
  const account = await sim.createAccount()
  const keyPrefix = `gw-shared-${process.pid}-${Date.now()}:`
  // Started together: the migration lock makes them take turns.
  const [a, b] = await Promise.all([startGateway(t, db.url, { keyPrefix }), startGateway(t, db.url, { keyPrefix })])
  t.same((await a.app.pg.query('SELECT id FROM schema_migrations ORDER BY id')).rows, [{ id: 1 }, { id: 2 }], 'migrated once')
  await addInstance(a.app, sim, account)

  const answers = await Promise.all(Array.from({ length: 100 }, (_, index) =>
    postMessage(index % 2 === 0 ? a.app : b.app, message('new-contact', `m${index}`))))
  t.same(answers.map((answer) => answer.statusCode), answers.map(() => 200), 'all 100 delivered')
  const bodies = answers.map((answer) => answer.json())

  t.same(await tally(sim, account), { contacts: 1, conversations: 1, messages: 100, attachments: 0 },
    'one contact, one conversation, 100 messages')
  const stored = await storedMessages(sim, account)
  t.same(stored.map((row) => row.content).sort(), bodies.map((_, index) => `m${index}`).sort(), 'each message once')
  t.equal(new Set(stored.map((row) => row.source_id)).size, 100, 'no source_id twice')
  t.same(new Set(bodies.map((body) => body.conversationId)), new Set([stored[0]!.display_id]), 'every answer names that conversation')
  t.same(bodies.map((body) => body.messageId).sort((x, y) => x - y), stored.map((row) => row.id), 'each answer is its own stored message')
  t.equal(sim.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/conversations')).length, 1,
    'one conversation create reached Chatwoot')
  const stats = [a.app.chatwoot.stats(), b.app.chatwoot.stats()]
  t.same(stats.map((each) => each.deliveries), [50, 50], '50 through each gateway')
  t.equal(stats[0]!.creates + stats[1]!.creates, 1, 'one create between the two')
  t.equal(stats[0]!.failures + stats[1]!.failures, 0)
})
