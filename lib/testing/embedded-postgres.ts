import { SimulatorEmbeddedUnavailableError } from './simulator/errors.js'

export interface EmbeddedPostgres {
  /** A connection string node-postgres (and so @fastify/postgres) can use. */
  readonly url: string
  close (): Promise<void>
}

/**
 * Postgres compiled to WASM in this process, served over a local socket: a demo or a first try
 * runs with nothing installed but Node. Not for tests of concurrency: it runs one query at a time.
 */
export async function startEmbeddedPostgres (): Promise<EmbeddedPostgres> {
  // Loaded on demand: they are optional peers, needed only when no server is given.
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')
  ]).catch((error: Error) => {
    throw new SimulatorEmbeddedUnavailableError(error.message, { cause: error })
  })
  const db = await PGlite.create()
  // The socket server queues queries and keeps a transaction's queries on its own connection,
  // so a pool of several clients is safe; one connection would serialise every request.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 })
  try {
    await server.start()
  } catch (error) {
    await db.close()
    throw error
  }
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async close () {
      await server.stop()
      await db.close()
    }
  }
}
