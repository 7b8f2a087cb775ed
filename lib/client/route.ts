import type { FastifyInstance, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify'
import { OptionsInvalidError } from '../errors.js'
import { type RequestChatwoot, requestView } from './decorator.js'

export type RouteChatwootConfig = boolean | { instance: (request: FastifyRequest) => string }

/**
 * What `request.chatwoot` is in a handler, from the route's `config` as Fastify infers it (its
 * `ContextConfig` generic): a route that asks (`chatwoot: true` or `{ instance }`) always has one,
 * because the lookup's preHandler answers the request itself when it fails; `chatwoot: false` never
 * has one; anything else (hooks, plain routes, a config typed only as boolean) may. The lookup runs
 * after the route's own preHandlers, so those hooks (typed with the same ContextConfig) still see null.
 */
export type RequestChatwootOf<ContextConfig> =
  ContextConfig extends { chatwoot: true | { instance: (request: never) => string } }
    ? RequestChatwoot
    : ContextConfig extends { chatwoot: false } ? null : RequestChatwoot | null

/**
 * Adds the instance lookup to routes that ask for it, after their own preHandlers; other routes pay
 * nothing. `scope` is the instance the route is declared on, so a route sees its own scope's plugins.
 */
export function decorateRoute (scope: FastifyInstance, route: RouteOptions): void {
  const setting = route.config?.chatwoot
  if (setting === undefined || setting === false) return
  let pick: (request: FastifyRequest) => string
  if (setting === true) {
    if (!/(^|\/):instance(\/|$|\()/.test(route.url)) {
      throw new OptionsInvalidError('chatwootClient', `route ${route.method} ${route.url} has config.chatwoot = true but no :instance param`)
    }
    pick = (request) => (request.params as Record<string, string>).instance!
  } else if (typeof setting === 'object' && setting !== null && typeof setting.instance === 'function') {
    pick = setting.instance
  } else {
    throw new OptionsInvalidError('chatwootClient', `route ${route.method} ${route.url}: config.chatwoot must be true or { instance: (request) => string }`)
  }
  const resolveChatwoot: preHandlerHookHandler = async function resolveChatwoot (request) {
    // Read when the request comes: plugins registered after the route still reach it.
    const view = scope.chatwoot
    const instance = pick(request)
    request.chatwoot = requestView(view, instance, await view.client(instance))
  }
  const existing = route.preHandler
  route.preHandler = existing === undefined ? [resolveChatwoot] : [...(Array.isArray(existing) ? existing : [existing]), resolveChatwoot]
}
