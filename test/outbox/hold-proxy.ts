import { createConnection, createServer, type Socket } from 'node:net'

/**
 * A TCP proxy in front of the simulator that passes every request at once, and every answer but those
 * to message posts: a post lands and is stored while its sender still waits for the answer, as when a
 * worker dies before the answer came. (Requests on one connection are sequential: after a held post,
 * that connection carries nothing else.) With `releaseAfterMs`, held answers are sent that late instead.
 */
export async function holdingProxy (target: string, options: { releaseAfterMs?: number } = {}): Promise<{ url: string, close: () => Promise<void> }> {
  const { hostname, port } = new URL(target)
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = createConnection({ host: hostname, port: Number(port) })
    sockets.add(client).add(upstream)
    let holding = false
    client.on('data', (chunk: Buffer) => {
      if (/^POST \S+\/messages HTTP/.test(chunk.toString('latin1', 0, 200))) holding = true
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (!holding) client.write(chunk)
      // A slow Chatwoot: the answer comes, late (by then its sender may have given up on it).
      else if (options.releaseAfterMs !== undefined) setTimeout(() => { if (!client.destroyed) client.write(chunk) }, options.releaseAfterMs)
    })
    for (const socket of [client, upstream]) {
      socket.on('error', () => {})
      socket.on('close', () => { client.destroy(); upstream.destroy(); sockets.delete(socket) })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  }
}
