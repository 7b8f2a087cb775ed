import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { OptionsInvalidError } from '../errors.js'
import { withRenamedOptions } from '../options.js'
import type { ResolvedInstance } from './config.js'
import { type InstanceChangeListener, InstanceRegistry, type ResolveInstance } from './registry.js'

export interface ChatwootInstancesOptions {
  /** Reads one instance's settings from the host app's own store; `undefined` when unknown. */
  resolve: ResolveInstance
  /** Milliseconds a resolved config is reused before `resolve` is asked again. Default 30 000. */
  ttlMs?: number
  /** @deprecated since 0.2: use ttlMs. */
  ttl?: number
}

export interface ChatwootInstances {
  /** The validated config of `name`; concurrent callers share one `resolve`. */
  get (name: string): Promise<ResolvedInstance>
  /** Forgets `name`, so the next `get` resolves again (and dependent pools and clients rebuild). */
  invalidate (name: string): void
  /** Listens for invalidations and for re-resolves that changed an instance's settings. */
  onChange (listener: InstanceChangeListener): () => void
}

declare module 'fastify' {
  interface FastifyInstance {
    chatwootInstances: ChatwootInstances
  }
}

const DEFAULT_TTL = 30_000

const plugin: FastifyPluginAsync<ChatwootInstancesOptions> = async (fastify, options) => {
  const { resolve, ttlMs: ttl = DEFAULT_TTL } = withRenamedOptions(options, { ttl: 'ttlMs' }, 'chatwootInstances')
  if (typeof resolve !== 'function') {
    throw new OptionsInvalidError('chatwootInstances', `option "resolve" must be a function, got ${typeof resolve}`)
  }
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) {
    throw new OptionsInvalidError('chatwootInstances', `option "ttlMs" must be a finite number >= 0, got ${String(ttl)}`)
  }

  const registry = new InstanceRegistry({
    resolve,
    ttl,
    onListenerError: (err, name) => fastify.log.error({ err, instance: name }, 'chatwootInstances change listener failed')
  })

  const instances: ChatwootInstances = {
    get: (name) => registry.get(name),
    invalidate: (name) => registry.invalidate(name),
    onChange: (listener) => registry.onChange(listener)
  }
  fastify.decorate('chatwootInstances', instances)
}

export const chatwootInstances = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-chatwoot-instances'
})
