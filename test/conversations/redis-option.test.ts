// Clients given by value never connect (lazyConnect). @fastify/redis pings on register, so where it
// is registered it is as a host app does, on the test Redis, and it quits its clients on close.
import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import { Cluster, Redis } from 'ioredis'
import { test } from 'tap'
import { isRedisClient, resolveRedis } from '../../lib/conversations/redis-option.js'
import { usesServers } from '../setup/servers.js'

usesServers('redis')

const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const lazyRedis = () => new Redis({ lazyConnect: true })
const lazyCluster = () => new Cluster([{ host: '127.0.0.1', port: 7101 }], { lazyConnect: true })

test('resolveRedis: unset takes @fastify/redis\'s client, or none when it is not registered', async (t) => {
  const bare = Fastify()
  t.teardown(() => bare.close())
  t.equal(resolveRedis(bare, undefined), undefined, 'no @fastify/redis: no Redis (the in-process store)')

  const app = Fastify()
  await app.register(fastifyRedis, { url: REDIS })
  t.teardown(() => app.close())
  t.equal(resolveRedis(app, undefined), app.redis, 'the registered client')
  t.equal(resolveRedis(app, false), undefined, 'false: no Redis even though one is registered')
  const other = lazyRedis()
  t.equal(resolveRedis(app, other), other, 'a client given wins over the registered one')
})

test('resolveRedis: a Redis or a Cluster by value', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const redis = lazyRedis()
  const cluster = lazyCluster()
  t.equal(resolveRedis(app, redis), redis, 'a Redis')
  t.equal(resolveRedis(app, cluster), cluster, 'a Cluster')
  t.equal(isRedisClient(cluster), true)

  // As @fastify/redis({ client: cluster }) decorates it (registering would connect to the cluster).
  const registered = Fastify()
  registered.decorate('redis', cluster as never)
  t.teardown(() => registered.close())
  t.equal(resolveRedis(registered, undefined), cluster, 'a Cluster as fastify.redis')
})

test('resolveRedis: a namespaced @fastify/redis asks which client to use', async (t) => {
  const app = Fastify()
  await app.register(fastifyRedis, { url: REDIS, namespace: 'cache' })
  await app.register(fastifyRedis, { url: REDIS, namespace: 'job-queue' })
  t.teardown(() => app.close())
  const cache = (app.redis as unknown as Record<string, Redis>).cache
  const error = (() => { try { resolveRedis(app, undefined) } catch (failure) { return failure as Error & { code: string } } })()
  t.equal(error?.code, 'FST_CHATWOOT_OPTIONS_INVALID', 'OptionsInvalidError, not a TypeError later on')
  t.match(error?.message, /namespaces \(cache, job-queue\)/, 'it names the namespaces it found')
  t.match(error?.message, /redis: fastify\.redis\.cache/, 'and tells what to pass')
  t.equal(resolveRedis(app, cache), cache, 'the namespace\'s client, given, is taken')

  const odd = Fastify()
  await odd.register(fastifyRedis, { url: REDIS, namespace: 'my-cache' })
  t.teardown(() => odd.close())
  t.throws(() => resolveRedis(odd, undefined), { message: /redis: fastify\.redis\["my-cache"\]/ }, 'a name that is no identifier is written with brackets')

  const decorated = Fastify()
  decorated.decorate('redis', { notAClient: true } as never)
  t.teardown(() => decorated.close())
  t.throws(() => resolveRedis(decorated, undefined), {
    code: 'FST_CHATWOOT_OPTIONS_INVALID',
    message: /fastify\.redis is not a Redis client, got an object with keys \[notAClient\]/
  }, 'some other fastify.redis')
})

test('resolveRedis: anything else is OptionsInvalidError naming what it got, never a URL\'s content', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const cases: Array<[unknown, RegExp]> = [
    [true, /got boolean true/],
    [null, /got null/],
    [0, /got number 0/],
    ['redis://:s3cret@127.0.0.1:6379', /got a string \(a URL is not accepted: pass a client\)/],
    [{ host: '127.0.0.1', port: 6379 }, /got an object with keys \[host, port\]/],
    [[lazyRedis()], /got an array/],
    [() => lazyRedis(), /got a function/],
    [new Map(), /got a Map with keys \[\]/],
    [{ status: 'ready', get () {}, set () {} }, /got an object with keys \[status, get, set\]/]
  ]
  for (const [option, message] of cases) {
    const label = typeof option === 'string' ? 'a URL' : String(option)
    const error = (() => { try { resolveRedis(app, option) } catch (failure) { return failure as Error & { code: string } } })()
    t.equal(error?.code, 'FST_CHATWOOT_OPTIONS_INVALID', `${label}: OptionsInvalidError`)
    t.match(error?.message, message, `${label}: ${error?.message}`)
    t.match(error?.message, /option "redis" must be an ioredis Redis or Cluster client, or false/, `${label}: says what is expected`)
    t.notMatch(error?.message, /s3cret/, `${label}: no password in the message`)
  }
})
