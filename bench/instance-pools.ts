import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import pg from 'pg'
import { instancePostgres } from '../dist/index.js'
import { createTestDatabase, serverUrl, type TestDatabase } from '../dist/testing/index.js'
import { type ConnectionSampler, sampleConnections } from './connection-sampler.js'
import { atMost, measure, type MeasureOptions, type SuiteResult } from './measure.js'

// As many instances opening at once as there are pools: each new one waits for the least
// recently used pool to close before it connects.
export const options: MeasureOptions = { operations: 2000, concurrency: 50, rounds: 5 }
const INSTANCES = options.operations * options.rounds
const MAX_POOLS = 50
// The plugin's default pool settings, for the pre-built pool too, so only the lookup differs.
const POOL = { max: 5, connectionTimeoutMillis: 5000 }
// Tenants of a gateway share a few databases; what keeps their pools apart is their settings.
const DATABASES = 4
const CLIENTS_PER_ROUND = 200
const CLIENTS_AT_ONCE = 5
const RSS_GROWTH_GOAL_MB = 50
const MB = 1024 * 1024

export const title = `${INSTANCES} instances touched once each through instancePg (maxPools ${MAX_POOLS}, pool max ${POOL.max}) ` +
  'against one pre-built pg.Pool touched as often'

export async function run (measureOptions: MeasureOptions): Promise<SuiteResult> {
  const databases: TestDatabase[] = []
  const app = Fastify()
  let sampler: ConnectionSampler | undefined
  // Its connections go to the server's own database, outside the ones sampled.
  const prebuilt = new pg.Pool({ connectionString: serverUrl(), ...POOL, application_name: 'fastify-chatwoot-bench' })
  try {
    for (let i = 0; i < DATABASES; i++) databases.push(await createTestDatabase())
    await app.register(instancePostgres, { resolve: settingsOf(databases), maxPools: MAX_POOLS, pool: POOL })
    await app.ready()
    sampler = await sampleConnections(databases.map(({ name }) => name), () => app.instancePg.stats().totalConnections)
    const touches = await touchEveryInstance(app, prebuilt, measureOptions)
    const stats = app.instancePg.stats()
    const peaks = sampler.peaks()
    await app.close()
    const openAtClose = await sampler.count()
    const left = await settledCount(sampler, 1000)
    return {
      figures: touches.figures,
      goals: [
        atMost(`peak connections (${MAX_POOLS} pools x max ${POOL.max})`, peaks.server, MAX_POOLS * POOL.max, 'connections'),
        atMost('RSS growth over the touches', touches.rssGrowthMb, RSS_GROWTH_GOAL_MB, 'MB'),
        atMost('failed touches', touches.failed, 0, 'touches'),
        atMost('connections left 1 s after close()', left, 0, 'connections')
      ],
      facts: {
        'instances touched': touches.touched,
        'new pg.Client per query': `${CLIENTS_PER_ROUND} a round, ${CLIENTS_AT_ONCE} at a time`,
        'pools open at the end': stats.pools,
        'pools created / ended': `${stats.created} / ${stats.evicted}`,
        'peak connections by the pools\' own count': peaks.inProcess,
        'connections still listed by the server when close() resolved': openAtClose,
        'server max_connections': await maxConnections(prebuilt),
        'heap growth over the touches (MB)': touches.heapGrowthMb,
        'garbage collected before reading memory': typeof globalThis.gc === 'function' ? 'yes' : 'no (start node with --expose-gc)',
        ...(touches.firstFailure === undefined ? {} : { 'first failure': touches.firstFailure })
      }
    }
  } finally {
    // A second close() is a no-op: this one is for a run that failed half way.
    await app.close()
    await sampler?.stop()
    await prebuilt.end()
    for (const database of databases) await database.drop()
  }
}

// A distinct application_name per instance: the pool set shares one pool between identical
// settings, and tenants with databases of their own would share none.
function settingsOf (databases: TestDatabase[]) {
  return (name: string) => {
    const index = Number(name.slice('tenant-'.length))
    return { connectionString: databases[index % databases.length]!.url, application_name: `fcw-bench-${index}` }
  }
}

async function touchEveryInstance (app: FastifyInstance, prebuilt: pg.Pool, measureOptions: MeasureOptions) {
  let touched = 0
  let failed = 0
  let firstFailure: string | undefined
  const before = settledMemory()
  const figures = await measure([
    { name: 'pre-built pg.Pool (baseline)', run: () => prebuilt.query('select 1') },
    {
      name: 'instancePg.query, a new instance',
      // No warm-up: every touch is of an instance never seen, and the rounds hold them all.
      warmUp: 0,
      run: async () => {
        try {
          await app.instancePg.query(`tenant-${touched++}`, 'select 1')
        } catch (error) {
          failed++
          firstFailure ??= (error as Error).message
        }
      }
    },
    {
      // What opening any instance's first connection costs, pool set or not. Fewer at a time,
      // to stay well under max_connections beside the pool set's 50 open connections.
      name: 'new pg.Client per query',
      operations: CLIENTS_PER_ROUND,
      concurrency: CLIENTS_AT_ONCE,
      run: async () => {
        const client = new pg.Client({ connectionString: serverUrl() })
        await client.connect()
        try {
          await client.query('select 1')
        } finally {
          await client.end()
        }
      }
    }
  ], measureOptions)
  const after = settledMemory()
  return {
    figures,
    touched,
    failed,
    firstFailure,
    rssGrowthMb: megabytes(after.rss - before.rss),
    heapGrowthMb: megabytes(after.heapUsed - before.heapUsed)
  }
}

// pg-pool's end() resolves once its clients are told to end, not once they have gone.
async function settledCount (sampler: ConnectionSampler, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs
  let count = await sampler.count()
  while (count > 0 && Date.now() < deadline) {
    await sleep(20)
    count = await sampler.count()
  }
  return count
}

// Garbage not yet collected would count as growth.
function settledMemory (): NodeJS.MemoryUsage {
  globalThis.gc?.()
  globalThis.gc?.()
  return process.memoryUsage()
}

function megabytes (bytes: number): number {
  return Math.round(bytes / MB * 10) / 10
}

async function maxConnections (pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ max_connections: string }>('show max_connections')
  return Number(rows[0]?.max_connections)
}
