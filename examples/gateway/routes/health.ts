import type { FastifyInstance } from 'fastify'
import type { OutboxStats } from 'fastify-chatwoot'

interface Check { ok: boolean, ms: number, error?: string }

async function check (probe: () => Promise<unknown>, timeoutMs: number): Promise<Check> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([probe(), new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'TIMEOUT' })), timeoutMs)
    })])
    return { ok: true, ms: Math.round(performance.now() - started) }
  } catch (error) {
    // The kind of failure, not its text: a driver's message may name hosts and users.
    const code = (error as { code?: unknown }).code
    return { ok: false, ms: Math.round(performance.now() - started), error: typeof code === 'string' ? code : 'FAILED' }
  } finally {
    clearTimeout(timer)
  }
}

function backlog (stats: OutboxStats | undefined) {
  if (stats === undefined) return {}
  return { queued: stats.queued, dead: stats.dead, oldestQueuedAgeMs: stats.oldestQueuedAgeMs, pausedInstances: stats.paused.map((paused) => paused.instance) }
}

export async function healthRoutes (app: FastifyInstance, { timeoutMs = 1000, outbox: outboxOn = false }: { timeoutMs?: number, outbox?: boolean }) {
  app.get('/health', async (request, reply) => {
    let stats: OutboxStats | undefined
    const [postgres, redis, outbox] = await Promise.all([
      check(() => app.pg.query('SELECT 1'), timeoutMs),
      app.hasDecorator('redis') ? check(() => app.redis.ping(), timeoutMs) : undefined,
      outboxOn ? check(async () => { stats = await app.chatwoot.outbox.stats() }, timeoutMs) : undefined
    ])
    // Without Redis deliveries go on with per-process caching and locks: degraded, not down.
    // Without its own database the gateway cannot resolve an instance: down.
    const status = !postgres.ok ? 'down' : redis?.ok === false ? 'degraded' : 'ok'
    return reply.code(postgres.ok ? 200 : 503).send({
      status,
      postgres,
      redis: redis ?? { mode: 'in-process cache (no REDIS_URL)' },
      // The backlog: a growing oldestQueuedAgeMs means deliveries are not keeping up (or an instance is paused).
      ...(outbox === undefined ? {} : { outbox: { ...outbox, ...backlog(stats) } }),
      instancePools: app.instancePg.stats(),
      pools: app.instancePg.pools()
    })
  })
}
