import type { FastifyInstance } from 'fastify'
import type { InstancePg } from './postgres/plugin.js'

export type { RequestChatwootOf } from './client/route.js'

/** A Fastify instance known to carry instancePostgres's decorator (see `instancePgOf`). */
export type WithInstancePg<Instance extends FastifyInstance = FastifyInstance> = Instance & { readonly instancePg: InstancePg }

/**
 * `fastify.instancePg`, typed only by asking for it: Fastify's `getDecorator` fails with
 * FST_ERR_DEC_UNDECLARED when instancePostgres is not registered (as with `postgres: false`), so a
 * plugin that calls this at registration fails at boot rather than on its first query.
 */
export function instancePgOf (fastify: FastifyInstance): InstancePg {
  return fastify.getDecorator<InstancePg>('instancePg')
}
