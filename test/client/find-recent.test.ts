import { test } from 'tap'
import { findRecent, type MessagePage } from '../../lib/client/find-recent.js'
import type { Message } from '../../lib/client/types.js'

// Pure: a fake `page` that answers as Chatwoot's MessageFinder does, over a conversation whose ids and
// created_at are inverted the way concurrent posts invert them (created_at is set in Ruby before the
// insert, the id at the insert).

type Stored = Pick<Message, 'id' | 'created_at' | 'source_id'>

/** A seeded generator, so a failing case can be replayed. */
function random (seed: number) {
  let state = seed >>> 0
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

/**
 * MessageFinder: neither -> latest 20 by created_at desc, reversed; `before` -> id < before, created_at
 * desc, 20, reversed; `before`+`after` -> after <= id < before, created_at asc, up to 1000. Ties in
 * created_at come in any order (Postgres promises none): shuffled at every call.
 */
function messageFinder (messages: Stored[], next: () => number, onCall: () => void = () => {}) {
  const calls: Array<{ before?: number, after?: number }> = []
  const byTime = (list: Stored[], direction: 1 | -1) => list
    .map((message) => ({ message, tie: next() }))
    .sort((a, b) => direction * (a.message.created_at - b.message.created_at) || a.tie - b.tie)
    .map(({ message }) => message)
  const page: MessagePage = async (_conversationId, { before, after }) => {
    // Only the parameters sent, as a query string would carry them.
    calls.push({ ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) })
    onCall()
    let answer: Stored[]
    if (before !== undefined && after !== undefined) {
      answer = byTime(messages.filter((message) => message.id >= after && message.id < before), 1).slice(0, 1000)
    } else if (before !== undefined) {
      answer = byTime(messages.filter((message) => message.id < before), -1).slice(0, 20).reverse()
    } else {
      answer = byTime(messages, -1).slice(0, 20).reverse()
    }
    return answer.map((message) => ({ ...message }) as Message)
  }
  return { page, calls }
}

const NOW_S = 1_800_000_000

/**
 * A conversation: `history` messages from an hour to two minutes ago, then `burst` concurrent ones from
 * `sentAt` on whose ids follow their insert (created_at plus a delay of up to `skewS` seconds), with the
 * target `sourceId` among them when `stored`.
 */
function conversation (next: () => number, { history, burst, skewS, stored }: { history: number, burst: number, skewS: number, stored: boolean }) {
  const rows: Array<{ created_at: number, insertedAt: number, source_id: string | null }> = []
  for (let index = 0; index < history; index++) {
    const at = NOW_S - 3600 + Math.floor((index * 3480) / Math.max(1, history))
    rows.push({ created_at: at, insertedAt: at, source_id: `old-${index}` })
  }
  const targetAt = stored ? Math.floor(next() * burst) : -1
  for (let index = 0; index < burst; index++) {
    const at = NOW_S + Math.floor(next() * 30)
    // Some messages carry no source_id (agents' replies, activity messages).
    const sourceId = index === targetAt ? 'target' : next() < 0.2 ? null : `burst-${index}`
    rows.push({ created_at: at, insertedAt: at + next() * skewS, source_id: sourceId })
  }
  rows.sort((a, b) => a.insertedAt - b.insertedAt)
  return rows.map((row, index): Stored => ({ id: 1000 + index, created_at: row.created_at, source_id: row.source_id }))
}

// Ten pages back at most, then one or two range reads.
const MAX_CALLS = 12

test('ids and created_at inverted by concurrent posts: found whenever stored, never when not, in a bounded number of pages', async (t) => {
  let found = 0
  let inverted = 0
  let worst = 0
  for (let seed = 1; seed <= 600; seed++) {
    const next = random(seed)
    const stored = seed % 2 === 0
    const shape = { history: Math.floor(next() * 300), burst: 1 + Math.floor(next() * 150), skewS: 1 + next() * 20, stored }
    const messages = conversation(next, shape)
    if (messages.some((message, index) => index > 0 && message.created_at < messages[index - 1]!.created_at)) inverted++
    const { page, calls } = messageFinder(messages, next)
    const answer = await findRecent(page, 7, 'target', NOW_S * 1000 + Math.floor(next() * 1000))
    const expected = messages.find((message) => message.source_id === 'target')
    if (answer?.id !== expected?.id) {
      t.fail(`seed ${seed}: ${JSON.stringify(shape)} answered ${answer?.id}, stored ${expected?.id}`)
      return
    }
    if (answer !== undefined) found++
    worst = Math.max(worst, calls.length)
    if (calls.length > MAX_CALLS) {
      t.fail(`seed ${seed}: ${calls.length} pages read`)
      return
    }
  }
  t.equal(found, 300, 'every stored message is found')
  t.ok(inverted > 400, `the model inverts ids and created_at (${inverted} of 600 conversations)`)
  t.ok(worst <= MAX_CALLS, `at most ${MAX_CALLS} pages (worst ${worst})`)
})

test('new messages arriving while it pages: the stored one is still found', async (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const next = random(seed * 7919)
    const messages = conversation(next, { history: 100, burst: 40 + Math.floor(next() * 60), skewS: 10, stored: true })
    // Between two reads, up to five more posts land, inverted among themselves too.
    const arrive = () => {
      const extra = Math.floor(next() * 6)
      let id = Math.max(...messages.map((message) => message.id))
      for (let index = 0; index < extra; index++) {
        messages.push({ id: ++id, created_at: NOW_S + 30 + Math.floor(next() * 5), source_id: `late-${seed}-${id}` })
      }
    }
    const { page, calls } = messageFinder(messages, next, arrive)
    const target = messages.find((message) => message.source_id === 'target')!
    const answer = await findRecent(page, 7, 'target', NOW_S * 1000)
    if (answer?.id !== target.id || calls.length > MAX_CALLS) {
      t.fail(`seed ${seed}: answered ${answer?.id} for ${target.id} in ${calls.length} pages`)
      return
    }
  }
  t.pass('found in every run')
})

test('the case backward paging by id misses: the target\'s id is above the lowest of the latest page', async (t) => {
  // 30 old messages, then the target (id 45) stored before 20 others with lower AND higher ids but later times.
  const messages: Stored[] = []
  for (let id = 1; id <= 30; id++) messages.push({ id, created_at: NOW_S - 3600 + id, source_id: `old-${id}` })
  let later = 1
  for (let id = 31; id <= 51; id++) {
    messages.push(id === 45 ? { id, created_at: NOW_S, source_id: 'target' } : { id, created_at: NOW_S + later++, source_id: `new-${id}` })
  }
  const { page, calls } = messageFinder(messages, random(1))
  const latest = await page(7, {})
  t.notOk(latest.some((message) => message.source_id === 'target'), 'the latest page does not hold it')
  const naive = await page(7, { before: Math.min(...latest.map((message) => message.id)) })
  t.notOk(naive.some((message) => message.source_id === 'target'), 'nor the page before the lowest id on it')
  calls.length = 0

  const answer = await findRecent(page, 7, 'target', NOW_S * 1000)
  t.equal(answer?.id, 45, 'findRecent finds it')
  // The page back holds ids 11..30 (the 20 latest of those below 31); id 11 is the first older than the look-back.
  t.same(calls, [{}, { before: 31 }, { after: 11, before: 2_147_483_647 }],
    'the latest page, one page back to a message older than the look-back, one range read from it')
  t.equal(await findRecent(page, 7, 'absent', NOW_S * 1000), undefined, 'a source_id never stored: undefined')
})

test('short cases: an empty or short conversation is one read; a target on the latest page is one read', async (t) => {
  for (const size of [0, 1, 19]) {
    const messages = Array.from({ length: size }, (_, index): Stored => ({ id: index + 1, created_at: NOW_S, source_id: `m${index}` }))
    const { page, calls } = messageFinder(messages, random(size))
    t.equal(await findRecent(page, 7, 'target', NOW_S * 1000), undefined, `${size} messages: not there`)
    t.equal(calls.length, 1, `${size} messages: one read`)
  }
  const busy = Array.from({ length: 2500 }, (_, index): Stored =>
    ({ id: index + 1, created_at: NOW_S - 7200 + index, source_id: index === 2490 ? 'target' : index === 2400 ? 'early' : `m${index}` }))
  const { page, calls } = messageFinder(busy, random(3))
  t.equal((await findRecent(page, 7, 'target', (NOW_S - 7200 + 2490) * 1000))?.id, 2491)
  t.equal(calls.length, 1, 'one read in a long conversation when it is among the latest 20')
  calls.length = 0
  t.equal(await findRecent(page, 7, 'early', NOW_S * 1000), undefined,
    'a message older than the look-back is not looked for: the check covers what was sent since sentAt')
  t.equal(calls.length, 1, 'and the latest page reaching past the look-back ends the search')
})

test('a conversation above Chatwoot\'s message limit within the look-back: ten pages back, then one range read', async (t) => {
  // 400 messages in 40 s (twice what a conversation takes in a minute), the target the oldest of them.
  const messages = Array.from({ length: 400 }, (_, index): Stored =>
    ({ id: index + 1, created_at: NOW_S + Math.floor(index / 10), source_id: index === 0 ? 'target' : `m${index}` }))
  const { page, calls } = messageFinder(messages, random(5))
  const answer = await findRecent(page, 7, 'target', NOW_S * 1000)
  t.equal(calls.length, 11, 'the latest page, nine pages back, one range read: bounded')
  t.same(calls.at(-1), { after: 201, before: 2_147_483_647 }, 'the range starts at the lowest id seen')
  // The documented bound: past 200 messages since the first attempt, older ones are not looked for.
  t.equal(answer, undefined, 'the target, 400 messages back, is past the bound (never another message)')
})
