import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** Makes every gateway sharing this Redis read `name` again at its next message (this one at once). */
    announceInstanceChange (name: string): Promise<void>
  }
}

// Gateways sharing the instances table would otherwise keep old settings (a revoked token, a
// moved database) for their whole instancesTtl. Redis pub/sub tells them at once; without Redis
// there is one gateway, and invalidating its own registry is enough.
async function instanceChanges (app: FastifyInstance, { channel }: { channel: string }) {
  if (!app.hasDecorator('redis')) {
    app.decorate('announceInstanceChange', async (name: string) => app.chatwootInstances.invalidate(name))
    return
  }
  // A subscribed connection can only listen: a second one, closed with the app.
  const subscriber = app.redis.duplicate()
  subscriber.on('message', (_channel: string, name: string) => app.chatwootInstances.invalidate(name))
  await subscriber.subscribe(channel)
  app.addHook('onClose', async () => {
    await subscriber.quit()
  })
  app.decorate('announceInstanceChange', async (name: string) => {
    app.chatwootInstances.invalidate(name)
    await app.redis.publish(channel, name)
  })
}

export const instanceChangesPlugin = fp(instanceChanges, { name: 'gateway-instance-changes', dependencies: ['fastify-chatwoot-instances'] })
