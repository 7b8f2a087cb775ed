import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { Pool } from 'undici'
import { ClientClosedError, OptionsInvalidError } from '../errors.js'
import { fingerprint } from '../fingerprint.js'
import type { ResolvedInstance } from '../instances/config.js'
import { BoundedMap, DEFAULT_MAX_ENTRIES } from '../bounded-map.js'
import { ChatwootClient, type FindMessage, type OnErrorHook } from './client.js'
import { type ChatwootDecorator, extendScope, kRequestMembers } from './decorator.js'
import { decorateRoute, type RequestChatwootOf, type RouteChatwootConfig } from './route.js'
import {
  durationMs, optionalFunction, optionsInvalid, positiveInteger, RENAMED_RETRY_OPTIONS, type RetryOptions, retryPolicy, withRenamedOptions
} from '../options.js'

export interface ChatwootClientPluginOptions {
  /** Applied to every client; an instance's `client.retry` overrides it. */
  retry?: RetryOptions
  /** Milliseconds one attempt may take; an instance's `client.timeoutMs` overrides it. Default 5000. */
  timeoutMs?: number
  /** @deprecated use timeoutMs (read as it until 1.0). */
  timeout?: number
  /** Keep-alive connections per Chatwoot origin, shared by every instance on it. Default 16. */
  connections?: number
  /**
   * The host's own check for a message before a create that may have landed is sent again: asked after a
   * delivery's own check (the conversations plugin's database lookup) and before the API. Default: the API.
   */
  findMessage?: FindMessage
  /** Instances whose client is kept between calls; the least recently used beyond it are rebuilt on use. Default 100 000. */
  maxClients?: number
}

export type { ChatwootDecorator, ChatwootExtensions, RequestChatwoot, RequestChatwootExtensions } from './decorator.js'
export type { RouteChatwootConfig } from './route.js'

declare module 'fastify' {
  interface FastifyInstance {
    chatwoot: ChatwootDecorator
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface FastifyRequest<RouteGeneric, RawServer, RawRequest, SchemaCompiler, TypeProvider, ContextConfig, Logger, RequestType> {
    chatwoot: RequestChatwootOf<ContextConfig>
  }
  interface FastifyContextConfig {
    chatwoot?: RouteChatwootConfig
  }
}

interface CachedClient { instance: ResolvedInstance, key: string, client: ChatwootClient }

const plugin: FastifyPluginAsync<ChatwootClientPluginOptions> = async (fastify, options) => {
  const { retry: given, timeoutMs, connections = 16, findMessage, maxClients = DEFAULT_MAX_ENTRIES } =
    withRenamedOptions(options, { timeout: 'timeoutMs' }, 'chatwootClient')
  // Renamed once here (one warning per registration), so the clients built from it see only the new names.
  const retry = given === undefined ? undefined : withRenamedOptions(given, RENAMED_RETRY_OPTIONS, 'chatwootClient retry')
  // Checked here, so a bad option fails at registration rather than at the first message.
  const invalid = optionsInvalid('chatwootClient')
  positiveInteger(connections, 'connections', invalid)
  retryPolicy(retry, 'chatwootClient')
  if (timeoutMs !== undefined) durationMs(timeoutMs, 'timeoutMs', invalid)
  positiveInteger(maxClients, 'maxClients', invalid)
  optionalFunction(findMessage, 'findMessage', invalid)

  const log = fastify.log.child({ plugin: 'chatwootClient' })
  const dispatchers = new Map<string, Pool>()
  // Keyed by instance name, which callers send: bounded. A client dropped here keeps working for the
  // calls that hold it; its keep-alive connections belong to the per-origin pool, which stays.
  const clients = new BoundedMap<string, CachedClient>({ maxEntries: maxClients })
  const hooks: OnErrorHook[] = []
  let closed = false

  // One keep-alive pool per origin: fifty instances on one Chatwoot share its connections.
  const dispatcherFor = (origin: string) => {
    let pool = dispatchers.get(origin)
    if (pool === undefined) {
      pool = new Pool(origin, { connections })
      dispatchers.set(origin, pool)
    }
    return pool
  }

  const build = (instance: ResolvedInstance): ChatwootClient => {
    const { url, accountId, token } = instance.chatwoot
    const client = new ChatwootClient({
      url,
      accountId,
      token,
      instance: instance.name,
      dispatcher: dispatcherFor(new URL(url).origin),
      timeoutMs: instance.client?.timeoutMs ?? timeoutMs,
      retry: { ...retry, ...instance.client?.retry },
      findMessage,
      logger: log
    })
    for (const hook of hooks) client.addHook('onError', hook)
    return client
  }

  const clientFor = (instance: ResolvedInstance): ChatwootClient => {
    const name = instance.name
    // After onClose nothing would close a new pool: refuse instead of leaking one.
    if (closed) throw new ClientClosedError(name)
    const cached = clients.get(name)
    // The registry hands out the same frozen object until it resolves again: the common case costs no fingerprint.
    if (cached !== undefined && cached.instance === instance) return cached.client
    // The token is part of the key but never leaves it: the key is a fingerprint kept in memory.
    const key = fingerprint({ chatwoot: instance.chatwoot, client: instance.client })
    if (cached !== undefined && cached.key === key) {
      cached.instance = instance
      return cached.client
    }
    const client = build(instance)
    clients.set(name, { instance, key, client })
    return client
  }

  const decorator: ChatwootDecorator = {
    // Until a plugin that adds them is registered in the scope: a coded error, not "is not a function".
    ...needs('deliver', 'enqueue'),
    stats () {
      throw new OptionsInvalidError('fastify.chatwoot.stats', 'register chatwootConversations in this scope first')
    },
    conversations: needs('evict'),
    outbox: needs('dead', 'replay', 'discard', 'stats', 'erase'),
    async client (name) {
      if (closed) throw new ClientClosedError(name)
      return clientFor(await fastify.chatwootInstances.get(name))
    },
    clientFor,
    addHook (name, hook) {
      if (name !== 'onError') throw new OptionsInvalidError('fastify.chatwoot.addHook', `unknown hook "${String(name)}" (only "onError")`)
      if (typeof hook !== 'function') throw new OptionsInvalidError('fastify.chatwoot.addHook', `hook must be a function, got ${typeof hook}`)
      hooks.push(hook)
      for (const { client } of clients.values()) client.addHook('onError', hook)
    },
    extend (scope, members, requestMembers) {
      extendScope(scope, members, requestMembers)
    }
  }

  const unsubscribe = fastify.chatwootInstances.onChange((name) => clients.delete(name))
  fastify.decorate('chatwoot', Object.assign(decorator, { [kRequestMembers]: needs('deliver', 'enqueue') }))
  // null, not an object: Fastify 5 refuses reference values shared by every request.
  fastify.decorateRequest('chatwoot', null)
  fastify.addHook('onRoute', function (route) {
    decorateRoute(this, route)
  })
  fastify.addHook('onClose', async () => {
    closed = true
    unsubscribe()
    clients.clear()
    await Promise.all([...dispatchers.values()].map((pool) => pool.close()))
    dispatchers.clear()
  })
}

// Stand-ins until a plugin that provides them is registered in the scope: a coded rejection, not "is not a function".
function needs (...names: string[]): any {
  const stubs: Record<string, () => Promise<never>> = {}
  for (const name of names) {
    stubs[name] = async () => {
      throw new OptionsInvalidError(`fastify.chatwoot.${name}`,
        'register the plugin that provides it (chatwootConversations for deliver, chatwootOutbox for enqueue) in this scope first')
    }
  }
  return stubs
}

export const chatwootClient = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-client',
  dependencies: ['fastify-chatwoot-instances']
})
