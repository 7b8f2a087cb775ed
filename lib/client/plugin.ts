import type { FastifyPluginAsync, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { Pool } from 'undici'
import { ClientClosedError, OptionsInvalidError } from '../errors.js'
import { fingerprint } from '../fingerprint.js'
import type { ConversationsApi, ConversationStats, DeliveryInput, DeliveryResult } from '../conversations/types.js'
import type { ResolvedInstance } from '../instances/config.js'
import { ChatwootClient, type FindMessage, type OnErrorHook } from './client.js'
import { type RetryOptions, retryPolicy } from './retry-policy.js'

export interface ChatwootClientPluginOptions {
  /** Applied to every client; an instance's `client.retry` overrides it. */
  retry?: RetryOptions
  /** Milliseconds one attempt may take; an instance's `client.timeout` overrides it. Default 5000. */
  timeout?: number
  /** Keep-alive connections per Chatwoot origin, shared by every instance on it. Default 16. */
  connections?: number
  /** The guard that looks for a message before a create that may have landed is sent again. Default: the latest messages. */
  findMessage?: FindMessage
}

/** What a route with `config.chatwoot` finds on `request.chatwoot`; the conversations plugin adds `deliver`. */
export interface RequestChatwoot {
  readonly instance: string
  readonly client: ChatwootClient
  /** Delivers one incoming message into this instance (needs chatwootConversations). */
  deliver (input: DeliveryInput): Promise<DeliveryResult>
}

export type RouteChatwootConfig = boolean | { instance: (request: FastifyRequest) => string }

export interface ChatwootDecorator {
  /** The client of `name`, made on first use and made again when the instance's settings change. */
  client (name: string): Promise<ChatwootClient>
  /** Adds an onError hook to every client, those made already and those to come. */
  addHook (name: 'onError', hook: OnErrorHook): void
  /** Replaces the idempotency guard's lookup for every client (the conversations plugin's database check). */
  useFindMessage (findMessage: FindMessage): void
  /** Delivers one incoming message into `instance` (needs chatwootConversations; fails with FST_CHATWOOT_OPTIONS_INVALID without it). */
  deliver (instance: string, input: DeliveryInput): Promise<DeliveryResult>
  /** The conversation cache (needs chatwootConversations). */
  conversations: ConversationsApi
  /** Counters of the conversations plugin (needs chatwootConversations). */
  stats (): ConversationStats
}

declare module 'fastify' {
  interface FastifyInstance {
    chatwoot: ChatwootDecorator
  }
  interface FastifyRequest {
    chatwoot: RequestChatwoot | null
  }
  interface FastifyContextConfig {
    chatwoot?: RouteChatwootConfig
  }
}

interface CachedClient { instance: ResolvedInstance, key: string, client: ChatwootClient }

const plugin: FastifyPluginAsync<ChatwootClientPluginOptions> = async (fastify, options) => {
  const { retry, timeout, connections = 16, findMessage } = options ?? {}
  if (!Number.isInteger(connections) || connections < 1) {
    throw new OptionsInvalidError('chatwootClient', `option "connections" must be a positive integer, got ${String(connections)}`)
  }
  // Checked here, so a bad option fails at registration rather than at the first message.
  retryPolicy(retry, 'chatwootClient')
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) {
    throw new OptionsInvalidError('chatwootClient', `option "timeout" must be a number of milliseconds > 0, got ${String(timeout)}`)
  }
  if (findMessage !== undefined && typeof findMessage !== 'function') {
    throw new OptionsInvalidError('chatwootClient', `option "findMessage" must be a function, got ${typeof findMessage}`)
  }

  const log = fastify.log.child({ plugin: 'chatwootClient' })
  const dispatchers = new Map<string, Pool>()
  const clients = new Map<string, CachedClient>()
  const hooks: OnErrorHook[] = []
  let closed = false
  let lookup: FindMessage = findMessage ?? ((request) => request.byApi())

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
      timeout: instance.client?.timeout ?? timeout,
      retry: { ...retry, ...instance.client?.retry },
      // Read at each use, so a lookup installed later reaches clients made before.
      findMessage: (request) => lookup(request),
      logger: log
    })
    for (const hook of hooks) client.addHook('onError', hook)
    return client
  }

  const decorator: ChatwootDecorator = {
    // Replaced by chatwootConversations when it is registered.
    async deliver () {
      throw needsConversations('deliver')
    },
    conversations: {
      async evict () {
        throw needsConversations('conversations.evict')
      }
    },
    stats () {
      throw needsConversations('stats')
    },
    async client (name) {
      // After onClose nothing would close a new pool: refuse instead of leaking one.
      if (closed) throw new ClientClosedError(name)
      const instance = await fastify.chatwootInstances.get(name)
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
    },
    addHook (name, hook) {
      if (name !== 'onError') throw new OptionsInvalidError('fastify.chatwoot.addHook', `unknown hook "${String(name)}" (only "onError")`)
      if (typeof hook !== 'function') throw new OptionsInvalidError('fastify.chatwoot.addHook', `hook must be a function, got ${typeof hook}`)
      hooks.push(hook)
      for (const { client } of clients.values()) client.addHook('onError', hook)
    },
    useFindMessage (replacement) {
      if (typeof replacement !== 'function') {
        throw new OptionsInvalidError('fastify.chatwoot.useFindMessage', `expected a function, got ${typeof replacement}`)
      }
      lookup = replacement
    }
  }

  const unsubscribe = fastify.chatwootInstances.onChange((name) => clients.delete(name))
  fastify.decorate('chatwoot', decorator)
  // null, not an object: Fastify 5 refuses reference values shared by every request.
  fastify.decorateRequest('chatwoot', null)
  fastify.addHook('onRoute', (route) => decorateRoute(route, decorator))
  fastify.addHook('onClose', async () => {
    closed = true
    unsubscribe()
    clients.clear()
    await Promise.all([...dispatchers.values()].map((pool) => pool.close()))
    dispatchers.clear()
  })
}

function needsConversations (what: string) {
  return new OptionsInvalidError(`fastify.chatwoot.${what}`, 'register chatwootConversations first')
}

// The request's view of the collection: its instance, its client, and what later plugins add to
// fastify.chatwoot bound to that instance (the conversations plugin's deliver).
class RouteChatwoot implements RequestChatwoot {
  readonly instance: string
  readonly client: ChatwootClient
  readonly #decorator: ChatwootDecorator

  constructor (instance: string, client: ChatwootClient, decorator: ChatwootDecorator) {
    this.instance = instance
    this.client = client
    this.#decorator = decorator
  }

  deliver (input: DeliveryInput) {
    return this.#decorator.deliver(this.instance, input)
  }
}

/** Adds the instance lookup to routes that ask for it, after their own preHandlers; other routes pay nothing. */
function decorateRoute (route: RouteOptions, decorator: ChatwootDecorator): void {
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
    const instance = pick(request)
    request.chatwoot = new RouteChatwoot(instance, await decorator.client(instance), decorator)
  }
  const existing = route.preHandler
  route.preHandler = existing === undefined ? [resolveChatwoot] : [...(Array.isArray(existing) ? existing : [existing]), resolveChatwoot]
}

export const chatwootClient = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-client',
  dependencies: ['fastify-chatwoot-instances']
})
