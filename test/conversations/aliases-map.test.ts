import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { test } from 'tap'
import { conversationsOptions } from '../../lib/conversations/options.js'
import { StoreUnavailableError } from '../../lib/conversations/guarded-store.js'
import { IdentityMap, LocalIdentityMap } from '../../lib/conversations/identity-map.js'
import { RedisStore } from '../../lib/conversations/redis-store.js'
import { MAX_ALIASES, MAX_IDENTIFIER_LENGTH, validateDelivery } from '../../lib/conversations/validate-delivery.js'
import type { DeliveryInput } from '../../lib/conversations/types.js'
import { deleteKeys, REDIS_URL } from '../helpers/gateway.js'
import { usesServers } from '../setup/servers.js'

usesServers('redis')

const LID = '104612345678901@lid'
const PHONE = '5511999990001@s.whatsapp.net'

test('the local map: one person, one canonical id, the smallest of the groups it joins', async (t) => {
  const map = new LocalIdentityMap(100)
  t.same(map.link('acme', [LID]), { canonical: LID, joined: [], converging: false }, 'an id never linked is its own canonical id')
  t.same(map.link('acme', [PHONE]), { canonical: PHONE, joined: [], converging: false })
  const linked = map.link('acme', [LID, PHONE])
  t.equal(linked.canonical, LID, 'the smaller id ("1..." < "5...") is the canonical one, whichever was delivered')
  t.same(linked.joined, [PHONE], 'the other group is reported as joined: a late mapping')
  t.equal(linked.converging, true, 'and stays converging until settled')
  t.same(map.link('acme', [PHONE]), { canonical: LID, joined: [], converging: true }, 'the phone id alone now answers the person')
  map.settle('acme', LID)
  t.same(map.link('acme', [PHONE]), { canonical: LID, joined: [], converging: false }, 'settled')
  // An id delivered alone leaves no record, so an id new to the map may have a contact of its own in Chatwoot.
  t.same(map.link('acme', [PHONE, 'zz-third']), { canonical: LID, joined: ['zz-third'], converging: true },
    'a new id joins the group and keeps its canonical id, and is treated as a late mapping (its contact is looked for)')
  t.same(map.link('acme', ['zz-third']).canonical, LID, 'and is reached transitively')
  t.same(map.link('other', [PHONE]).canonical, PHONE, 'links are per instance')
})

test('the local map: joining two linked groups moves every member; ids with separators stay apart', async (t) => {
  const map = new LocalIdentityMap(100)
  map.link('acme', ['b', 'c'])
  map.link('acme', ['d', 'e'])
  const joined = map.link('acme', ['e', 'c'])
  t.same([joined.canonical, joined.joined], ['b', ['d']])
  for (const id of ['b', 'c', 'd', 'e']) t.equal(map.link('acme', [id]).canonical, 'b', `${id} -> b`)
  t.equal(map.link('a:b', ['c']).canonical, 'c', 'an instance with ":" is not confused with another instance + id')
  t.equal(map.link('a', ['b:c']).canonical, 'b:c')
})

test('the local map is bounded', async (t) => {
  const map = new LocalIdentityMap(4)
  for (let index = 0; index < 10; index++) map.link('acme', [`x${index}`, `y${index}`])
  t.equal(map.link('acme', ['y9']).canonical, 'x9', 'the newest link is kept')
  t.equal(map.link('acme', ['y0']).canonical, 'y0', 'the oldest went (Redis keeps every link)')
})

function redisMap (t: { teardown: (fn: () => unknown) => void }, keyPrefix: string) {
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => {
    await deleteKeys(redis, keyPrefix)
    await redis.quit()
  })
  const map = new IdentityMap({ redis, keyPrefix, maxEntries: 100, guard: (call) => call(), ...noAnnouncements })
  return { map, redis }
}

const noAnnouncements = { announce: async () => {}, localTtlMs: 60_000 }

test('an id delivered alone is asked of Redis once, until a link in any process changes its answer', async (t) => {
  const keyPrefix = `t${randomUUID()}:`
  const maps = []
  for (const name of ['one', 'two']) {
    const redis = new Redis(REDIS_URL)
    // The conversation store's pub/sub, as the plugin wires it: each process hears the other's announcements.
    const store = new RedisStore(redis, `${keyPrefix}conversations`)
    let evals = 0
    const map: IdentityMap = new IdentityMap({
      redis,
      keyPrefix,
      maxEntries: 100,
      localTtlMs: 60_000,
      guard: (call) => { evals++; return call() },
      announce: (key) => store.announce(key)
    })
    const stop = await store.listen((key) => map.heard(key))
    t.teardown(async () => {
      await stop()
      if (name === 'one') await deleteKeys(redis, keyPrefix)
      await redis.quit()
    })
    await redis.ping()
    maps.push({ map, evals: () => evals })
  }
  const [one, two] = maps as [typeof maps[0], typeof maps[0]]
  t.same(await one.map.link('acme', ['x']), { canonical: 'x', joined: [], converging: false })
  for (let i = 0; i < 5; i++) t.equal((await one.map.link('acme', ['x'])).canonical, 'x')
  t.equal(one.evals(), 1, 'one round trip for six lone deliveries')
  t.equal(one.map.localEntries, 1)
  const linked = await two.map.link('acme', ['x', 'a'])
  t.equal(linked.canonical, 'a', 'the other process links x to a')
  // Pub/sub is asynchronous: wait for the announcement rather than a fixed time.
  const deadline = Date.now() + 5_000
  while (one.map.localEntries > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(one.map.localEntries, 0, 'the announcement dropped this process\'s lone answers')
  t.equal((await one.map.link('acme', ['x'])).canonical, 'a', 'and x alone now answers the person\'s canonical id')
  t.equal(one.evals(), 2)
  const again = one.evals()
  await one.map.link('acme', ['x', 'a'])
  t.equal((await one.map.link('acme', ['x'])).canonical, 'a')
  t.equal(one.evals(), again + 2, 'a link of several ids drops their lone answers in its own process too')
  t.ok((await one.map.link('acme', ['a'])).converging, 'an answer while the late mapping converges is not kept')
  await one.map.settle('acme', 'a')
  const settled = one.evals()
  t.equal((await one.map.link('acme', ['a'])).converging, false)
  t.equal((await one.map.link('acme', ['a'])).canonical, 'a')
  t.equal(one.evals(), settled + 1, 'once settled, the canonical id alone is kept as well')
})

test('two processes (two clients) linking the same person at once agree, and exactly one sees the late mapping', async (t) => {
  const keyPrefix = `t${randomUUID()}:`
  const one = redisMap(t, keyPrefix)
  const two = redisMap(t, keyPrefix)
  await one.redis.ping()
  await two.redis.ping()
  for (let round = 0; round < 20; round++) {
    const [lid, phone] = [`lid-${round}@lid`, `55${round}@s.whatsapp.net`]
    // Each knows only its own id first, as two gateways would.
    await Promise.all([one.map.link('acme', [lid]), two.map.link('acme', [phone])])
    const [a, b] = await Promise.all([one.map.link('acme', [lid, phone]), two.map.link('acme', [phone, lid])])
    t.equal(a.canonical, b.canonical, `round ${round}: one canonical id (${a.canonical})`)
    t.equal(a.joined.length + b.joined.length, 1, `round ${round}: exactly one link joined the two groups`)
    t.ok(a.converging && b.converging, `round ${round}: both are told the mapping is not converged yet`)
    await one.map.settle('acme', a.canonical)
    t.equal((await two.map.link('acme', [phone])).converging, false, `round ${round}: settled for every process`)
  }
  const keys = await one.redis.keys(`${keyPrefix}*`)
  t.ok(keys.length > 0 && keys.every((key) => key.startsWith(`${keyPrefix}{aliases:acme}:`)), 'every key shares the instance hash tag')
})

test('while Redis cannot be asked, the local map answers and the delivery goes on', async (t) => {
  const keyPrefix = `t${randomUUID()}:`
  let down = true
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => {
    await deleteKeys(redis, keyPrefix)
    await redis.quit()
  })
  // What GuardedStore.guard does while Redis is down: the call is not made.
  const guard = <T>(call: () => Promise<T>): Promise<T> => down ? Promise.reject(new StoreUnavailableError()) : call()
  const map = new IdentityMap({ redis, keyPrefix, maxEntries: 100, guard, ...noAnnouncements })
  t.same(await map.link('acme', ['b', 'a']), { canonical: 'a', joined: ['b'], converging: true }, 'linked in this process')
  await map.settle('acme', 'a')
  down = false
  t.equal((await map.link('acme', ['b'])).canonical, 'b', 'Redis never heard of the link: processes disagree until the ids meet again')
  t.equal((await map.link('acme', ['b', 'a'])).canonical, 'a', 'and agree once they do')
  const failing = new IdentityMap({ redis, keyPrefix, maxEntries: 100, guard: () => Promise.reject(new Error('a bug')), ...noAnnouncements })
  await t.rejects(failing.link('acme', ['a']), /a bug/, 'only an unavailable Redis is passed over, not any error')
})

const input = (aliases: unknown): DeliveryInput => ({ contact: { identifier: LID, aliases } as any, message: { content: 'hi' } })
function refusal (value: unknown): { code?: string, message: string } {
  try {
    validateDelivery(input(value))
  } catch (error) {
    return error as { code?: string, message: string }
  }
  throw new Error('expected a refusal')
}

test('contact.aliases is checked before anything is written', async (t) => {
  t.doesNotThrow(() => validateDelivery(input([PHONE])))
  t.doesNotThrow(() => validateDelivery(input(undefined)))
  t.doesNotThrow(() => validateDelivery(input(null)), 'null is "not given", like the other optional fields')
  const cases: Array<[unknown, RegExp]> = [
    [PHONE, /contact\.aliases must be an array of strings, got ".*"/],
    [Array.from({ length: MAX_ALIASES + 1 }, (_, index) => `id${index}`), new RegExp(`at most ${MAX_ALIASES} ids, got ${MAX_ALIASES + 1}`)],
    [[PHONE, ''], /contact\.aliases\[1\] must be a non-empty string, got an empty string/],
    [[' '], /contact\.aliases\[0\] must be a non-empty string/],
    [[42], /contact\.aliases\[0\] must be a non-empty string, got number 42/],
    [['x'.repeat(MAX_IDENTIFIER_LENGTH + 1)], new RegExp(`at most ${MAX_IDENTIFIER_LENGTH} characters, got ${MAX_IDENTIFIER_LENGTH + 1}`)],
    [['a\u0000b'], /contact\.aliases\[0\] holds a NUL byte/]
  ]
  for (const [value, message] of cases) {
    const error = refusal(value)
    t.equal(error.code, 'FST_CHATWOOT_DELIVERY_INVALID')
    t.match(error.message, message)
  }
})

test('the aliases and merge options: defaults and coded refusals naming what they got', async (t) => {
  const defaults = conversationsOptions({})
  t.equal(defaults.aliases, undefined)
  t.equal(defaults.merge, false)
  const aliases = () => [PHONE]
  t.equal(conversationsOptions({ aliases, merge: true }).aliases, aliases)
  t.throws(() => conversationsOptions({ aliases: [PHONE] as any }), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /option "aliases" must be a function .*got object/ })
  t.throws(() => conversationsOptions({ merge: 'yes' as any }), { code: 'FST_CHATWOOT_OPTIONS_INVALID', message: /option "merge" must be a boolean, got yes/ })
})
