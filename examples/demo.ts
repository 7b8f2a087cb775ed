// `npm run demo`: the gateway of examples/gateway beside a simulated Chatwoot, through the failures
// gateways meet in production. Each step says what it expects, checks it in Chatwoot's own tables,
// and the exit code is 0 only if every step behaved.
import { request } from 'undici'
import { samePersonTwoIds } from './demo-identity.js'
import { chatwootDown, type Outcome, startFlood, workerKilled } from './demo-outbox.js'
import { WEBHOOK_STEPS, webhookSteps } from './demo-webhooks.js'
import { buildGateway } from './gateway/app.js'
import { startEnvironment } from './gateway/environment.js'

const STEPS = 11 + WEBHOOK_STEPS

async function main (): Promise<boolean> {
  const started = Date.now()
  const environment = await startEnvironment({ fresh: true })
  const { chatwoot } = environment
  const app = await buildGateway({
    databaseUrl: environment.databaseUrl,
    ...(environment.redisUrl === undefined ? {} : { redisUrl: environment.redisUrl }),
    conversations: { keyPrefix: environment.keyPrefix },
    outboxPoolMax: environment.outboxPoolMax,
    // Short waits between retries: the demo's failures are injected, not a struggling server.
    client: { retry: { minDelayMs: 20, maxDelayMs: 200 } },
    // The outbox's workers look often and back off briefly: the demo's outage lasts seconds. A post that
    // a killed worker left under way is checked 3 s after it started, not 30: the demo's Chatwoot is quick.
    outbox: { pollMs: 100, backoffMinMs: 200, backoffMaxMs: 1000, slowChatwootMs: 3000 }
  })
  const outcomes: Outcome[] = []
  try {
    const gateway = await app.listen({ port: 0, host: '127.0.0.1' })
    const post = async (path: string, body: unknown) => {
      const response = await request(gateway + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      const text = await response.body.text()
      return { status: response.statusCode, text, json: JSON.parse(text) }
    }
    const account = await chatwoot.createAccount()
    const conversationsOf = async (identifier: string) => (await chatwoot.query(
      `SELECT cv.display_id FROM conversations cv JOIN contacts c ON c.id = cv.contact_id
        WHERE c.identifier = $1 AND cv.account_id = $2 ORDER BY cv.id`, [identifier, account.accountId])).map((row) => row.display_id as number)
    const messagesIn = async (displayId: number) => (await chatwoot.query(
      `SELECT m.content, m.source_id FROM messages m JOIN conversations cv ON cv.id = m.conversation_id
        WHERE cv.account_id = $1 AND cv.display_id = $2 ORDER BY m.id`, [account.accountId, displayId]))
    const record = (outcome: Outcome) => {
      outcomes.push(outcome)
      console.log(`   ${outcome.ok ? 'as expected' : 'NOT as expected'}: ${outcome.observed}\n`)
    }
    const say = (text: string) => console.log(text)

    say(`\nfastify-chatwoot demo: a gateway (${gateway}) forwarding chat messages into a simulated Chatwoot (${chatwoot.url})`)
    say(`   database: ${environment.describe.database}; conversation cache: ${environment.describe.cache}\n`)

    say('0. The gateway learns its instance "acme" (Chatwoot URL, account, inbox, token, and Chatwoot\'s database for checks)')
    const token = account.token
    const added = await post('/instances', {
      name: 'acme', chatwootUrl: chatwoot.url, accountId: account.accountId, inboxId: account.inboxId, token, databaseUrl: chatwoot.databaseUrl
    })
    record({
      step: 'add instance "acme"',
      expected: '201, token not echoed',
      observed: `${added.status}, token ${added.text.includes(token) ? 'ECHOED' : 'not in the answer'}`,
      ok: added.status === 201 && !added.text.includes(token)
    })

    say('(started early, checked as step 10: a flood to one contact under a per-minute limit)')
    const flood = await startFlood(post, process.env.DATABASE_URL)

    say('1. Two contacts, Alice and Bob, send messages in turn')
    const alice = { identifier: '5511999990001@s.whatsapp.net', name: 'Alice' }
    const bob = { identifier: '5511999990002@s.whatsapp.net', name: 'Bob' }
    const sent: Array<[typeof alice, string]> = [[alice, 'Hi, my order is late'], [bob, 'Hello!'], [alice, 'It is #1042'], [bob, 'Do you ship to Lisbon?'], [alice, 'Thanks']]
    const answers = []
    for (const [contact, content] of sent) answers.push(await post('/instances/acme/messages', { contact, message: { content } }))
    const [aliceConversations, bobConversations] = [await conversationsOf(alice.identifier), await conversationsOf(bob.identifier)]
    const aliceFirst = aliceConversations[0] ?? 0
    const aliceMessages = (await messagesIn(aliceFirst)).map((row) => row.content)
    const bobMessages = (await messagesIn(bobConversations[0] ?? 0)).map((row) => row.content)
    say(`   Alice's conversation #${aliceFirst}: ${JSON.stringify(aliceMessages)}`)
    say(`   Bob's conversation #${bobConversations[0]}: ${JSON.stringify(bobMessages)}`)
    say(`   cache: ${answers.map((answer) => answer.json.cache).join(', ')}`)
    record({
      step: 'two contacts send messages',
      expected: '1 conversation each, 3 + 2 messages in order',
      observed: `${aliceConversations.length} + ${bobConversations.length} conversations, ${aliceMessages.length} + ${bobMessages.length} messages`,
      ok: answers.every((answer) => answer.status === 200) && aliceConversations.length === 1 && bobConversations.length === 1 &&
        JSON.stringify(aliceMessages) === JSON.stringify(['Hi, my order is late', 'It is #1042', 'Thanks']) &&
        JSON.stringify(bobMessages) === JSON.stringify(['Hello!', 'Do you ship to Lisbon?'])
    })

    say(`2. An agent deletes Alice's conversation #${aliceFirst} in Chatwoot; the gateway still has it cached`)
    await chatwoot.deleteConversation(account.accountId, aliceFirst)
    const afterDelete = await post('/instances/acme/messages', { contact: alice, message: { content: 'Anyone there?' } })
    const aliceNow = await conversationsOf(alice.identifier)
    const recoveredInto = afterDelete.json.conversationId as number
    const inRecovered = await messagesIn(recoveredInto)
    say(`   Chatwoot answered 404 for #${aliceFirst}; the gateway evicted it and sent the message to #${recoveredInto} (recovered: ${afterDelete.json.recovered})`)
    record({
      step: 'deleted conversation recovers',
      expected: '200, recovered into a new conversation',
      observed: `${afterDelete.status}, recovered ${afterDelete.json.recovered}, conversation #${recoveredInto}, ${inRecovered.length} message there`,
      ok: afterDelete.status === 200 && afterDelete.json.recovered === true && recoveredInto !== aliceFirst &&
        JSON.stringify(aliceNow) === JSON.stringify([recoveredInto]) && inRecovered.length === 1
    })

    say('3. A new contact, Carol, has 200 messages arrive at once (a group forward, a retrying phone)')
    const carol = { identifier: '5511999990003@s.whatsapp.net', name: 'Carol' }
    const burst = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      post('/instances/acme/messages', { contact: carol, message: { content: `photo ${i + 1} of 200` } })))
    const carolConversations = await conversationsOf(carol.identifier)
    const carolMessages = carolConversations.length === 1 ? await messagesIn(carolConversations[0] ?? 0) : []
    const landedIn = new Set(burst.map((answer) => answer.json.conversationId))
    say(`   ${burst.filter((answer) => answer.status === 200).length} answers 200, all in conversation(s) ${[...landedIn].map((id) => `#${id}`).join(', ')}`)
    record({
      step: '200 concurrent first messages',
      expected: '1 conversation, 200 messages',
      observed: `${carolConversations.length} conversation(s), ${carolMessages.length} messages, ${new Set(carolMessages.map((row) => row.content)).size} distinct`,
      ok: burst.every((answer) => answer.status === 200) && carolConversations.length === 1 && landedIn.size === 1 &&
        carolMessages.length === 200 && new Set(carolMessages.map((row) => row.content)).size === 200
    })

    say('4. Chatwoot stores a message but its answer is lost (the connection drops after the commit)')
    chatwoot.faults.add({ method: 'POST', path: /\/conversations\/\d+\/messages$/, dropAfterCommit: true })
    const lost = await post('/instances/acme/messages', { contact: bob, message: { content: 'Is anyone reading this?', source_id: 'wamid.demo-lost-1' } })
    const copies = await chatwoot.query('SELECT count(*)::int AS n FROM messages WHERE source_id = $1', ['wamid.demo-lost-1'])
    say(`   the gateway could not know whether it landed; before sending again it looked in Chatwoot's database and found it (deduplicated: ${lost.json.deduplicated})`)
    record({
      step: 'answer lost after the store',
      expected: '200, exactly 1 copy stored',
      observed: `${lost.status}, deduplicated ${lost.json.deduplicated}, ${copies[0]?.n} copy stored`,
      ok: lost.status === 200 && lost.json.deduplicated === true && copies[0]?.n === 1
    })

    say('5. An instance is added with a wrong token')
    const wrongToken = 'not-the-right-token-1234'
    await post('/instances', { name: 'acme-typo', chatwootUrl: chatwoot.url, accountId: account.accountId, inboxId: account.inboxId, token: wrongToken })
    const refused = await post('/instances/acme-typo/messages', { contact: alice, message: { content: 'Will this arrive?' } })
    say(`   ${refused.status} ${refused.json.code}: ${refused.json.message}`)
    const stray = await chatwoot.query('SELECT count(*)::int AS n FROM messages WHERE content = $1', ['Will this arrive?'])
    record({
      step: 'wrong token',
      expected: '502 FST_CHATWOOT_UNAUTHORIZED, nothing stored',
      observed: `${refused.status} ${refused.json.code}, token ${refused.text.includes(wrongToken) ? 'LEAKED' : 'not in the answer'}, ${stray[0]?.n} stored`,
      ok: refused.status === 502 && refused.json.code === 'FST_CHATWOOT_UNAUTHORIZED' && !refused.text.includes(wrongToken) && stray[0]?.n === 0
    })

    say('6. A malformed message is refused before it reaches Chatwoot')
    const before = chatwoot.requests.length
    const malformed = await post('/instances/acme/messages', { contact: { name: 'No identifier' }, message: { content: 'x' } })
    say(`   ${malformed.status} ${malformed.json.code}: ${malformed.json.message}`)
    record({
      step: 'malformed message',
      expected: '400 naming the field, no call to Chatwoot',
      observed: `${malformed.status} field ${malformed.json.field}, ${chatwoot.requests.length - before} call(s) to Chatwoot`,
      ok: malformed.status === 400 && malformed.json.field === 'body.contact.identifier' && chatwoot.requests.length === before
    })

    say('7. Chatwoot is down for a while; messages are queued (?queue=1) meanwhile')
    record(await chatwootDown(chatwoot, account, post))

    say('8. The same person writes from two ids (a WhatsApp lid and phone id), the mapping learnt at the third message')
    record(await samePersonTwoIds(chatwoot, account, post, (contact) => app.chatwoot.conversations.person('acme', contact)))

    say('9. A second worker process drains a backlog beside the gateway\'s, and is SIGKILLed mid-run')
    record(await workerKilled(chatwoot, account, post, {
      worker: { databaseUrl: environment.databaseUrl, redisUrl: environment.redisUrl, keyPrefix: environment.keyPrefix, outboxPoolMax: environment.outboxPoolMax },
      query: async (sql, values) => (await app.pg.query(sql, values)).rows
    }))

    say('10. The flood to Erin (queued before step 1)')
    record(await flood.check())

    await webhookSteps({ gateway, post, database: process.env.DATABASE_URL, first: outcomes.length, record })

    const stats = app.chatwoot.stats()
    say(`Counters (also on ${gateway}/metrics): ${JSON.stringify(stats)}`)
    const pools = app.instancePg.pools().map((pool) => `${pool.target} for ${pool.instances.join(', ')}`)
    say(`Postgres pools opened lazily for instances: ${pools.length === 0 ? 'none' : pools.join('; ')}\n`)
  } finally {
    if (app.hasDecorator('redis')) await deleteKeys(app, environment.keyPrefix)
    await app.close()
    await environment.close()
  }

  printTable(outcomes)
  const allOk = outcomes.length === STEPS && outcomes.every((outcome) => outcome.ok)
  console.log(`\n${allOk ? 'Every step behaved' : 'SOME STEPS DID NOT BEHAVE'} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  return allOk
}

async function deleteKeys (app: Awaited<ReturnType<typeof buildGateway>>, prefix: string) {
  let cursor = '0'
  do {
    const [next, keys] = await app.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    if (keys.length > 0) await app.redis.del(...keys)
    cursor = next
  } while (cursor !== '0')
}

function printTable (outcomes: Outcome[]) {
  const rows = [['#', 'step', 'expected', 'observed', 'ok'], ...outcomes.map((outcome, i) => [String(i), outcome.step, outcome.expected, outcome.observed, outcome.ok ? 'yes' : 'NO'])]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  for (const [i, row] of rows.entries()) {
    console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join('  '))
    if (i === 0) console.log(widths.map((width) => '-'.repeat(width)).join('  '))
  }
}

main().then((allOk) => {
  process.exitCode = allOk ? 0 : 1
}, (error) => {
  console.error(error)
  process.exitCode = 1
})
