import pg from 'pg'
import { test } from 'tap'
import { simulatedAccount } from '../helpers/simulator.js'
import { instanceOf, messagesOf, outboxApp, until } from './fixture.js'
import { usesServers } from '../setup/servers.js'

usesServers('postgres', 'redis')

// A lane's fresh entries are started with its head in one statement and posted in order (a batch). These
// tests fail one post in the middle of a batch and read the rows: the posts before it recorded, the entries
// behind it started back as if never taken (no wait, no check), the lane going on in order.

const inputs = (identifier: string, count: number) => Array.from({ length: count }, (_, index) => ({
  contact: { identifier, name: identifier },
  message: { content: `${identifier} ${index}`, source_id: `${identifier}-${index}` }
}))

interface Row { source_id: string, state: string, attempts: number, last_error_code: string | null, started: string | null }

for (const known of [false, true]) {
  test(`a post failing mid-batch (${known ? 'a contact with a conversation: posts pre-aimed' : 'a new contact: each post aimed first'})`, async (t) => {
    const { sim, account } = await simulatedAccount(t)
    const { outbox, databaseUrl } = await outboxApp(t, { instances: { acme: instanceOf(sim, account) } })
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    t.teardown(() => client.end())
    const [warm, ...batch] = inputs('bob', 7)
    if (known) {
      await outbox.enqueue('acme', warm!)
      await until(async () => (await outbox.outbox.stats()).delivered === 1, 30_000, 'the first delivered')
    }
    // Two posts go through, the third is refused for good (422: dead at once), the rest must still follow in order.
    sim.faults.add({ method: 'POST', path: /\/messages$/, delayMs: 0, times: 2 })
    sim.faults.add({ method: 'POST', path: /\/messages$/, status: 422, body: { error: 'Validation failed: nope' }, times: 1 })
    // One commit for all six, so the first claim finds them together.
    await client.query('BEGIN')
    for (const input of batch) await outbox.enqueue('acme', input, { db: client })
    await client.query('COMMIT')
    const expectedDone = batch.length + (known ? 1 : 0)
    await until(async () => {
      const stats = await outbox.outbox.stats()
      return stats.delivered + stats.dead === expectedDone
    }, 30_000, 'every entry delivered or dead')

    const stored = (await messagesOf(sim, account, 'bob')).map((m) => m.source_id)
    t.same(stored, [...(known ? ['bob-0'] : []), 'bob-1', 'bob-2', 'bob-4', 'bob-5', 'bob-6'], 'once each, in enqueue order, the refused one left out')
    const { rows } = await client.query<Row>(`SELECT source_id, state, attempts, last_error_code, to_char(first_attempt_at, 'HH24:MI:SS.US') AS started
      FROM chatwoot_outbox.entries WHERE source_id <> 'bob-0' ORDER BY seq`)
    const bySource = new Map(rows.map((row) => [row.source_id, row]))
    t.match(bySource.get('bob-3'), { state: 'dead', attempts: 1, last_error_code: 'FST_CHATWOOT_VALIDATION' }, 'the refused post is dead at once')
    t.equal(new Set(['bob-1', 'bob-2', 'bob-3'].map((id) => bySource.get(id)!.started)).size, 1,
      'the first three were started by one statement (a batch)')
    for (const id of ['bob-1', 'bob-2', 'bob-4', 'bob-5', 'bob-6']) {
      t.match(bySource.get(id), { state: 'delivered', attempts: 1, last_error_code: null }, `${id}: delivered at its first attempt, nothing to wait for or check`)
    }
    t.not(bySource.get('bob-4')!.started, bySource.get('bob-3')!.started, 'the entries behind the failure were started back and taken again')
    t.equal(sim.faults.pending, 0, 'both faults were met')
  })
}
