import type pg from 'pg'

/**
 * Runs `work` inside BEGIN/COMMIT on a checked-out client, rolling back when it throws, and always
 * releases it. A client whose server goes away emits 'error' (unheard, it would end the process); such a
 * client, or one whose ROLLBACK failed, is handed back with the error so the pool destroys it instead of
 * reusing a connection in an unknown state. One copy for every layer that opens its own transactions.
 */
export async function inTransaction<T> (client: pg.PoolClient, work: (client: pg.PoolClient) => Promise<T>,
  onLost?: (error: Error) => void): Promise<T> {
  let broken: Error | undefined
  const onError = (error: Error) => {
    broken = error
    onLost?.(error)
  }
  client.on('error', onError)
  try {
    await client.query('BEGIN')
    const result = await work(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    try {
      await client.query('ROLLBACK')
    } catch (rollbackError) {
      broken ??= rollbackError as Error
    }
    throw error
  } finally {
    client.removeListener('error', onError)
    client.release(broken)
  }
}
