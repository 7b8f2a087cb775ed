import { createConnection, createServer, type Socket } from 'node:net'

/**
 * A TCP proxy that can be cut: every connection through it dropped and new ones refused (a server that
 * went away, as far as its clients can tell), then restored. For a service that must go down for part
 * of a test while other tests share it.
 */
export async function cuttableProxy (target: { host: string, port: number }) {
  const sockets = new Set<Socket>()
  let cut = false
  const server = createServer((client) => {
    if (cut) {
      client.destroy()
      return
    }
    const upstream = createConnection(target)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(socket)
      })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    port,
    cut () {
      cut = true
      for (const socket of sockets) socket.destroy()
    },
    restore () {
      cut = false
    },
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  }
}
