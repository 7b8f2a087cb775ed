import { randomUUID } from 'node:crypto'
import { createChatwootSimulator, createTestDatabase, startEmbeddedPostgres, type ChatwootSimulator } from 'fastify-chatwoot/testing'

export interface Environment {
  /** The gateway's own database. */
  databaseUrl: string
  redisUrl: string | undefined
  /** A key prefix of this run's own, so runs sharing one Redis never meet. */
  keyPrefix: string
  /** A simulated Chatwoot, storing in Chatwoot's tables. */
  chatwoot: ChatwootSimulator
  /** What the databases are, for the narration: 'embedded PGlite' or the server. */
  describe: { database: string, cache: string }
  /**
   * Connections for the outbox's pool: 1 on embedded PGlite, whose socket server interleaves concurrent
   * parametrised queries of several connections ("unnamed prepared statement does not exist").
   */
  outboxPoolMax: number
  close (): Promise<void>
}

/**
 * Postgres and Redis for the example: DATABASE_URL and REDIS_URL when set, else Postgres
 * embedded in this process and a per-process cache, so a first try needs nothing but Node.
 * `fresh`: a new database on DATABASE_URL's server, dropped on close (the demo leaves nothing behind).
 */
export async function startEnvironment ({ fresh }: { fresh: boolean }): Promise<Environment> {
  const server = process.env.DATABASE_URL
  const redisUrl = process.env.REDIS_URL
  const closers: Array<() => Promise<void>> = []
  const close = async () => {
    for (const closeOne of closers.reverse()) await closeOne()
  }
  try {
    let databaseUrl: string
    if (server === undefined) {
      const embedded = await startEmbeddedPostgres()
      closers.push(() => embedded.close())
      databaseUrl = embedded.url
    } else if (fresh) {
      const database = await createTestDatabase({ server })
      closers.push(() => database.drop())
      databaseUrl = database.url
    } else {
      databaseUrl = server
    }
    const chatwoot = await createChatwootSimulator(server === undefined ? {} : { database: server })
    closers.push(() => chatwoot.close())
    return {
      databaseUrl,
      redisUrl,
      keyPrefix: `gateway:${randomUUID().slice(0, 8)}:`,
      chatwoot,
      describe: {
        database: server === undefined ? 'embedded PGlite (set DATABASE_URL for a server)' : 'DATABASE_URL',
        cache: redisUrl === undefined ? 'in-process (set REDIS_URL for Redis)' : 'Redis at REDIS_URL'
      },
      outboxPoolMax: server === undefined ? 1 : 8,
      close
    }
  } catch (error) {
    await close()
    throw error
  }
}
