// A second replica of the example gateway for the demo's "worker killed" step (demo-outbox.ts): the same
// buildGateway on the same database, not listening, whose outbox workers drain the table beside the demo's
// own. The Chatwoot URL and token come from the instances table, as for any replica, so nothing secret is
// on its command line. Settings are JSON in argv[2]. It prints 'ready' once its workers run and a line per
// attempt outcome ('delivered acme', ...); the demo SIGKILLs it, which is the point (SIGTERM closes it).
import { subscribe } from 'node:diagnostics_channel'
import { OUTBOX_CHANNEL } from 'fastify-chatwoot'
import { buildGateway } from './gateway/app.js'

export interface DemoWorkerSettings {
  databaseUrl: string
  redisUrl: string | undefined
  keyPrefix: string
  outboxPoolMax: number
  concurrency: number
  /** Short, so the demo sees its lanes taken over within seconds of the kill. */
  leaseMs: number
  /** At most half of leaseMs: a post starts only with a client timeout of lease ahead of it. */
  clientTimeoutMs: number
}

async function main (): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? '') as DemoWorkerSettings
  const app = await buildGateway({
    databaseUrl: settings.databaseUrl,
    ...(settings.redisUrl === undefined ? {} : { redisUrl: settings.redisUrl }),
    // Its get-or-create locks (in Postgres when there is no Redis) expire with its leases, not 30 s after the kill.
    conversations: { keyPrefix: settings.keyPrefix, lockTtlMs: settings.leaseMs },
    outboxPoolMax: settings.outboxPoolMax,
    client: { timeoutMs: settings.clientTimeoutMs, retry: { minDelayMs: 20, maxDelayMs: 200 } },
    outbox: {
      concurrency: settings.concurrency,
      leaseMs: settings.leaseMs,
      clientTimeoutMs: settings.clientTimeoutMs,
      pollMs: 100,
      backoffMinMs: 200,
      backoffMaxMs: 1000
    },
    // Only the outbox's workers are wanted here; the webhook steps run after this replica is gone.
    webhooks: false
  })
  subscribe(OUTBOX_CHANNEL, (message) => {
    const { event, instance } = message as { event: string, instance: string }
    process.stdout.write(`${event} ${instance}\n`)
  })
  await app.ready()
  // The workers' own timers may not hold the process open while the table is empty: this does, until SIGTERM.
  const alive = setInterval(() => {}, 60_000)
  process.once('SIGTERM', () => {
    clearInterval(alive)
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
  process.stdout.write('ready\n')
}

main().catch((error: unknown) => {
  process.stderr.write(`demo-worker failed: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
