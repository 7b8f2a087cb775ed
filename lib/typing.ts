import type { FastifyInstance } from 'fastify'
import type { RequestChatwoot } from './client/plugin.js'
import type { InstancePg } from './postgres/plugin.js'

/**
 * What `request.chatwoot` is in a handler, from the route's `config` as Fastify infers it (its
 * `ContextConfig` generic): a route that asks (`chatwoot: true` or `{ instance }`) always has one,
 * because the lookup's preHandler answers the request itself when it fails; `chatwoot: false`
 * never has one; anything else (hooks, plain routes, a config typed only as boolean) may.
 *
 * Meant for the FastifyRequest augmentation (`chatwoot: RequestChatwootOf<ContextConfig>`), so a
 * handler needs no `request.chatwoot!`. The lookup runs after the route's own preHandlers, so
 * those hooks (typed with the same ContextConfig) would still see null at run time.
 */
export type RequestChatwootOf<ContextConfig> =
  ContextConfig extends { chatwoot: true | { instance: (request: never) => string } }
    ? RequestChatwoot
    : ContextConfig extends { chatwoot: false } ? null : RequestChatwoot | null

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
