import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { FastifyInstance } from 'fastify'
import { CLIENT_CHANNEL, type ClientCallEvent, type ConversationStats, type OutboxStats } from 'fastify-chatwoot'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

// The plugin's counters are read from fastify.chatwoot.stats() at each scrape, so they are this
// app's own. Chatwoot call timings come from the client's diagnostics channel, which is
// process-wide: one gateway per process, as it runs in production.
export async function metricsRoutes (app: FastifyInstance, { outbox = false }: { outbox?: boolean }) {
  const registry = new Registry()

  registry.registerMetric(new Counter({
    name: 'chatwoot_conversation_events_total',
    help: 'Conversation events of the chatwootConversations plugin (deliveries, cache hits, recoveries, ...)',
    labelNames: ['event'],
    registers: [],
    collect () {
      const stats: ConversationStats = app.chatwoot.stats()
      this.reset()
      for (const [event, value] of Object.entries(stats)) this.inc({ event }, value)
    }
  }))
  const calls = new Histogram({
    name: 'chatwoot_request_duration_seconds',
    help: 'Chatwoot API attempts by operation and status (an error code when no answer came)',
    labelNames: ['operation', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  registry.registerMetric(new Gauge({
    name: 'instance_pg_pools',
    help: 'Postgres pools of instancePostgres',
    registers: [],
    collect () {
      this.set(app.instancePg.stats().pools)
    }
  }))
  registry.registerMetric(new Gauge({
    name: 'instance_pg_connections',
    help: 'Connections of instancePostgres pools by state',
    labelNames: ['state'],
    registers: [],
    collect () {
      const { totalConnections, idleConnections, waiting } = app.instancePg.stats()
      this.set({ state: 'idle' }, idleConnections)
      this.set({ state: 'busy' }, totalConnections - idleConnections)
      this.set({ state: 'waiting' }, waiting)
    }
  }))

  if (outbox) registerOutboxGauges(app, registry)

  const onCall = (message: unknown) => {
    const call = message as ClientCallEvent
    calls.observe({ operation: call.operation, status: String(call.statusCode ?? call.error ?? 'none') }, call.durationMs / 1000)
  }
  subscribe(CLIENT_CHANNEL, onCall)
  app.addHook('onClose', async () => {
    unsubscribe(CLIENT_CHANNEL, onCall)
  })

  app.get('/metrics', async (request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}

// The outbox's table, shared by every replica: each replica reports the same figures, so sum them
// with max(), not sum(). One query per scrape for all of them.
function registerOutboxGauges (app: FastifyInstance, registry: Registry) {
  const gauge = (name: string, help: string, read: (stats: OutboxStats) => number) => registry.registerMetric(new Gauge({
    name,
    help,
    registers: [],
    async collect () {
      this.set(read(await outboxStats(app)))
    }
  }))
  gauge('chatwoot_outbox_queued', 'Outbox entries waiting to be delivered', (stats) => stats.queued)
  gauge('chatwoot_outbox_in_flight', 'Contact lanes a worker holds a live lease on', (stats) => stats.inFlight)
  gauge('chatwoot_outbox_dead', 'Dead outbox entries (see GET /outbox/dead)', (stats) => stats.dead)
  gauge('chatwoot_outbox_paused_instances', 'Instances paused by a wrong token or account', (stats) => stats.paused.length)
  gauge('chatwoot_outbox_oldest_queued_age_seconds', 'Age of the oldest queued entry; 0 when none', (stats) => stats.oldestQueuedAgeMs / 1000)
}

// The gauges of one scrape share one read of the table.
const reads = new WeakMap<FastifyInstance, { at: number, stats: Promise<OutboxStats> }>()
function outboxStats (app: FastifyInstance): Promise<OutboxStats> {
  const last = reads.get(app)
  if (last !== undefined && Date.now() - last.at < 500) return last.stats
  const stats = app.chatwoot.outbox.stats()
  reads.set(app, { at: Date.now(), stats })
  stats.catch(() => reads.delete(app))
  return stats
}
