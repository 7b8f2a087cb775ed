import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { serverUrl } from '../dist/testing/index.js'

export interface ConnectionSampler {
  /** Connections to `databases` now, as the server counts them. */
  count (): Promise<number>
  /** Highest count seen by the server, and by `inProcess`, since the sampler started. */
  peaks (): { server: number, inProcess: number }
  stop (): Promise<void>
}

/**
 * Polls pg_stat_activity from a connection of its own, on a database outside `databases`
 * so it never counts itself. The server's count is the one that matters: it also sees
 * connections a pool has forgotten but not closed, which the pool's own counters cannot.
 */
export async function sampleConnections (databases: string[], inProcess: () => number, everyMs = 50): Promise<ConnectionSampler> {
  const client = new pg.Client({ connectionString: serverUrl(), application_name: 'fastify-chatwoot-bench-sampler' })
  await client.connect()
  const count = async () => {
    const { rows } = await client.query<{ count: number }>(
      'select count(*)::int as count from pg_stat_activity where datname = any($1)', [databases])
    return rows[0]?.count ?? 0
  }
  const peaks = { server: 0, inProcess: 0 }
  const stopping = new AbortController()
  const polling = (async () => {
    while (!stopping.signal.aborted) {
      peaks.inProcess = Math.max(peaks.inProcess, inProcess())
      peaks.server = Math.max(peaks.server, await count())
      await sleep(everyMs)
    }
  })()
  return {
    count,
    peaks: () => ({ ...peaks }),
    stop: async () => {
      stopping.abort()
      try {
        await polling
      } finally {
        await client.end()
      }
    }
  }
}
