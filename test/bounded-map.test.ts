import { test } from 'tap'
import { BoundedMap, DEFAULT_MAX_ENTRIES, sweepIntervalFor } from '../lib/bounded-map.js'

const NOW = Date.now()
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('over the bound, the least recently used entry goes; get is a use, peek and has are not', async (t) => {
  const map = new BoundedMap<string, number>({ maxEntries: 3 })
  map.set('a', 1).set('b', 2).set('c', 3)
  t.equal(map.get('a'), 1, 'a is read: now the most recently used')
  t.equal(map.peek('b'), 2, 'b is only peeked at')
  t.ok(map.has('b'))
  map.set('d', 4)
  t.same([...map.entries()], [['c', 3], ['a', 1], ['d', 4]], 'b, the least recently used, went; the order is oldest first')
  map.set('c', 30)
  map.set('e', 5)
  t.same([...map.entries()], [['d', 4], ['c', 30], ['e', 5]], 'setting again is a use too')
  t.equal(map.size, 3)
  t.equal(map.maxEntries, 3)
  t.equal(DEFAULT_MAX_ENTRIES, 100_000, 'the documented default')
})

test('an expired entry is gone on sight and is the first to go over the bound', async (t) => {
  const map = new BoundedMap<string, number>({ maxEntries: 2 })
  map.set('short', 1, 100, NOW)
  map.set('long', 2, 10_000, NOW)
  t.equal(map.get('short', NOW + 99), 1, 'alive until its ttl')
  t.equal(map.peek('short', NOW + 100), undefined, 'expired at its ttl')
  t.notOk(map.has('short', NOW + 100))
  t.equal(map.size, 2, 'peek leaves it in place')
  t.equal(map.get('short', NOW + 100), undefined)
  t.equal(map.size, 1, 'get drops it')

  map.set('old', 3, 50, NOW)
  map.get('long', NOW)
  map.set('new', 4, 10_000, NOW + 60)
  t.same([...map.values()], [2, 4], 'the expired entry went, though it was not the least recently used')
})

test('prune drops every expired entry and nothing else', async (t) => {
  const map = new BoundedMap<number, number>({ maxEntries: 1000 })
  for (let i = 0; i < 100; i++) map.set(i, i, i % 2 === 0 ? 10 : Infinity, NOW)
  t.equal(map.prune(NOW + 10), 50)
  t.equal(map.size, 50)
  t.ok([...map.values()].every((value) => value % 2 === 1), 'the entries without expiry stay')
})

test('a busy entry is never evicted; an idle one goes in its place', async (t) => {
  const busy = new Set(['a', 'b'])
  const map = new BoundedMap<string, number>({ maxEntries: 3, busy: (_value, key) => busy.has(key) })
  map.set('a', 1).set('b', 2).set('c', 3).set('d', 4)
  t.same([...map.entries()].map(([key]) => key).sort(), ['a', 'b', 'd'], 'c, the oldest idle entry, went instead of a and b')
  map.set('e', 5)
  t.same([...map.entries()].map(([key]) => key).sort(), ['a', 'b', 'e'])
})

test('onEvict hears of each entry the bound pushed out, and of nothing else', async (t) => {
  const evicted: string[] = []
  const map = new BoundedMap<string, number>({ maxEntries: 2, busy: (value) => value === 0, onEvict: (_value, key) => evicted.push(key) })
  map.set('busy', 0).set('a', 1).set('b', 2).set('c', 3)
  map.delete('c')
  map.set('short', 4, 10, NOW)
  map.get('short', NOW + 10)
  map.clear()
  t.same(evicted, ['a', 'b'], 'a and b went for room; busy stayed; delete, expiry and clear are the owner\'s own doing')
})

test('the bound is exceeded only while every entry is busy, and is kept again once work ends', async (t) => {
  const busy = new Set<number>()
  const map = new BoundedMap<number, number>({ maxEntries: 10, busy: (_value, key) => busy.has(key) })
  for (let i = 0; i < 25; i++) {
    busy.add(i)
    map.set(i, i)
  }
  t.equal(map.size, 25, 'all busy: nothing is evicted, work is never lost')
  for (let i = 0; i < 25; i++) t.equal(map.peek(i), i, `busy entry ${i} is still there`)

  for (let i = 0; i < 20; i++) busy.delete(i)
  map.set(100, 100)
  t.equal(map.size, 10, 'the next set brings it back to the bound')
  for (const key of [20, 21, 22, 23, 24, 100]) t.ok(map.has(key), `${key} (busy or newest) stayed`)
})

test('a busy entry walked past once is not walked past on every set (no quadratic shrink)', async (t) => {
  let asked = 0
  const busyKeys = new Set<number>()
  const map = new BoundedMap<number, number>({
    maxEntries: 1000,
    busy: (_value, key) => { asked++; return busyKeys.has(key) }
  })
  for (let i = 0; i < 1000; i++) {
    if (i < 500) busyKeys.add(i)
    map.set(i, i)
  }
  for (let i = 1000; i < 3000; i++) map.set(i, i)
  t.equal(map.size, 1000)
  t.ok(Array.from({ length: 500 }, (_, i) => i).every((key) => map.has(key)), 'every busy entry kept')
  // Walking past all 500 busy entries at each of the 2000 sets would ask about a million times;
  // moved to the young end, each is asked once per turn of the whole map.
  t.ok(asked <= 5000, `busy was asked ${asked} times for 2000 evictions`)
})

test('over many evictions, reads and deletes, the order kept is exactly least recently used', async (t) => {
  // A plain array as the model: oldest first. A seeded walk, so a failure can be replayed.
  let seed = 42
  const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  const map = new BoundedMap<number, number>({ maxEntries: 50 })
  let model: number[] = []
  const use = (key: number) => { model = [...model.filter((k) => k !== key), key] }
  for (let step = 0; step < 20_000; step++) {
    const key = random(200)
    const action = random(10)
    if (action < 5) {
      map.set(key, key)
      use(key)
      if (model.length > 50) model.shift()
    } else if (action < 9) {
      if (map.get(key) !== undefined) use(key)
    } else {
      map.delete(key)
      model = model.filter((k) => k !== key)
    }
  }
  t.same([...map.entries()].map(([key]) => key), model)
})

test('a sweep timer drops expired entries nobody reads again, then stops', async (t) => {
  const map = new BoundedMap<number, number>({ maxEntries: 1000, sweepIntervalMs: 20 })
  for (let i = 0; i < 100; i++) map.set(i, i, 10)
  map.set(1000, 1000)
  await pause(80)
  t.equal(map.size, 1, 'expired entries swept without being read; the one without expiry stays')
  t.equal(map.get(1000), 1000)
})

test('options are checked', async (t) => {
  for (const maxEntries of [0, -1, 1.5, Number.NaN, Infinity]) {
    t.throws(() => new BoundedMap({ maxEntries }), { name: 'RangeError', message: new RegExp(`got ${String(maxEntries)}`) })
  }
  for (const sweepIntervalMs of [0, -1, Number.NaN, Infinity]) {
    t.throws(() => new BoundedMap({ maxEntries: 1, sweepIntervalMs }), { name: 'RangeError', message: /sweepIntervalMs/ })
  }
  t.equal(sweepIntervalFor(60_000), 60_000, 'a sweep as often as entries expire')
  t.equal(sweepIntervalFor(5), 1000, 'but at most once a second')
  t.equal(sweepIntervalFor(Infinity), 1000)
})

test('reads of the youngest key skip the move, and the order stays exactly least recently used (against a model)', async (t) => {
  // A plain array as the model: oldest first, a use moves the key to the end, the bound drops from the front.
  let seed = 7
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647
  for (let round = 0; round < 20; round++) {
    const map = new BoundedMap<number, number>({ maxEntries: 5 })
    let model: number[] = []
    const wrong: string[] = []
    for (let step = 0; step < 400; step++) {
      const key = Math.floor(random() * 8)
      const action = random()
      if (action < 0.45) {
        const hit = map.get(key)
        if ((hit !== undefined) !== model.includes(key)) wrong.push(`step ${step}: get ${key}`)
        if (hit !== undefined) model = [...model.filter((k) => k !== key), key]
      } else if (action < 0.9) {
        map.set(key, key)
        model = [...model.filter((k) => k !== key), key]
        if (model.length > 5) model = model.slice(model.length - 5)
      } else if (action < 0.97) {
        map.delete(key)
        model = model.filter((k) => k !== key)
      } else {
        map.clear()
        model = []
      }
    }
    t.same(wrong, [], `round ${round}: every get answered as the model`)
    t.same([...map.entries()].map(([key]) => key), model, `round ${round}: the same order as the model`)
  }
})
