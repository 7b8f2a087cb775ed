import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import pg from 'pg'
import { chatwootClient, chatwootConversations, chatwootInstances, chatwootOutbox, OUTBOX_CHANNEL } from '../dist/index.js'
import type { ChatwootOutboxOptions } from '../dist/index.js'
import type { createChatwootSimulator } from '../dist/testing/index.js'

export type Simulator = Awaited<ReturnType<typeof createChatwootSimulator>>
export interface Account { accountId: number, inboxId: number, token: string }

/** A gateway as a host builds it, with the outbox on `databaseUrl`. */
export async function outboxGateway (sim: Simulator, account: Account, keyPrefix: string, databaseUrl: string, outbox: ChatwootOutboxOptions) {
  const app = Fastify()
  await app.register(fastifyRedis, { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
  await app.register(chatwootInstances, {
    resolve: () => ({ chatwoot: { url: sim.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token } })
  })
  await app.register(chatwootClient, { connections: 16 })
  await app.register(chatwootConversations, { keyPrefix })
  await app.register(chatwootOutbox, { connectionString: databaseUrl, ...outbox })
  await app.ready()
  return app
}

/**
 * Counts the outbox's finished entries (delivered, or found already delivered) from its diagnostics
 * channel, the one way a host sees an entry arrive, and lets a caller wait for a count.
 */
export function deliveredCounter () {
  let done = 0
  let waiters: Array<{ count: number, resolve: () => void }> = []
  const onEvent = (message: unknown) => {
    const { event } = message as { event: string }
    if (event !== 'delivered' && event !== 'deduplicated') return
    done++
    waiters = waiters.filter((waiter) => {
      if (done < waiter.count) return true
      waiter.resolve()
      return false
    })
  }
  subscribe(OUTBOX_CHANNEL, onEvent)
  return {
    get done () { return done },
    /** Resolves once `count` entries in all have finished; fails after `timeoutMs` so a stuck drain cannot hang the run. */
    reach (count: number, timeoutMs = 30_000): Promise<void> {
      if (done >= count) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`outbox bench: ${done} of ${count} entries delivered after ${timeoutMs} ms`)), timeoutMs)
        waiters.push({ count, resolve: () => { clearTimeout(timer); resolve() } })
      })
    },
    close: () => unsubscribe(OUTBOX_CHANNEL, onEvent)
  }
}

/**
 * A pool that counts the statements sent through it: the outbox's database round trips per delivered
 * entry tell where a drain's time goes on a loaded machine.
 */
export function countingPool (connectionString: string, max: number) {
  let queries = 0
  const pool = new pg.Pool({ connectionString, max, application_name: 'fastify-chatwoot-outbox-bench' })
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((...args: unknown[]) => {
      queries++
      return query(...args)
    }) as typeof client.query
  })
  return { pool, get queries () { return queries } }
}

export function percentile (values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * q) - 1)] ?? 0
}

export function median (values: number[]): number {
  return percentile(values, 0.5)
}
