import Fastify from 'fastify'
import pg from 'pg'
import { instancePostgres } from '../dist/index.js'
import { serverUrl } from '../dist/testing/index.js'
import { type Figure, measure, type MeasureOptions } from './measure.js'

export const title = 'instancePg.query(name, "select 1") against a pre-built pg.Pool and a new pg.Client per query'

// The same settings for every contender, so only the lookup differs.
const POOL = { max: 5, connectionTimeoutMillis: 5000 }

export async function run (options: MeasureOptions): Promise<Figure[]> {
  const connectionString = serverUrl()
  const app = Fastify()
  await app.register(instancePostgres, { resolve: () => connectionString, pool: POOL })
  await app.ready()
  const prebuilt = new pg.Pool({ connectionString, ...POOL, application_name: 'fastify-chatwoot' })
  const baseline = { name: 'pre-built pg.Pool (baseline)', run: () => prebuilt.query('select 1') }
  try {
    // Measured apart: a client per query forks a server process each time, and that churn
    // would slow whichever contender ran next.
    const [base, getter] = await measure([
      baseline,
      { name: 'instancePg.query', run: () => app.instancePg.query('acme', 'select 1') }
    ], options)
    const [, perQuery] = await measure([
      baseline,
      {
        name: 'new pg.Client per query',
        operations: 200,
        run: async () => {
          const client = new pg.Client({ connectionString })
          await client.connect()
          try {
            await client.query('select 1')
          } finally {
            await client.end()
          }
        }
      }
    ], { ...options, rounds: 3 })
    return [base, getter, perQuery].filter((figure) => figure !== undefined)
  } finally {
    await prebuilt.end()
    await app.close()
  }
}
