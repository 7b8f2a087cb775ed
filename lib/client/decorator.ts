import type { FastifyInstance } from 'fastify'
import type { ResolvedInstance } from '../instances/config.js'
import type { ChatwootClient, OnErrorHook } from './client.js'

/**
 * What later plugins add to `fastify.chatwoot`. Empty here: each plugin declares its members by module
 * augmentation (as Fastify's own decorators are typed), so the client never imports the layers above it.
 */

export interface ChatwootExtensions {}

/** What later plugins add to `request.chatwoot`, bound to the request's instance; declared the same way. */

export interface RequestChatwootExtensions {}

export interface ChatwootDecorator extends ChatwootExtensions {
  /** The client of `name`, made on first use and made again when the instance's settings change. */
  client (name: string): Promise<ChatwootClient>
  /** The client of an instance already resolved (saves a registry lookup on hot paths). */
  clientFor (instance: ResolvedInstance): ChatwootClient
  /** Adds an onError hook to every client, those made already and those to come. */
  addHook (name: 'onError', hook: OnErrorHook): void
  /**
   * Adds members to `fastify.chatwoot` (and `requestMembers` to `request.chatwoot`, where `this` is the
   * request's view) for `scope` and the scopes it encapsulates, never for its parent: how a plugin
   * registered in a child scope adds `deliver` without changing what the root sees.
   */
  extend (scope: FastifyInstance, members: Partial<ChatwootExtensions>, requestMembers?: Partial<RequestChatwootExtensions>): void
}

/** `request.chatwoot` on a route with `config.chatwoot`: its instance, its client, and the collection bound to it. */
export interface RequestChatwoot extends RequestChatwootExtensions {
  readonly instance: string
  readonly client: ChatwootClient
  /** The scope's `fastify.chatwoot`, for members bound to the request's instance. */
  readonly collection: ChatwootDecorator
}

export const kRequestMembers = Symbol('fastify-chatwoot.requestMembers')

interface ScopeView extends ChatwootDecorator {
  [kRequestMembers]: object
}

/**
 * The scoped view: an object whose prototype is the parent's view, set as an own property of the
 * scope's instance. A child Fastify instance inherits from its parent, so it sees the parent's view
 * until it sets its own, and the parent never sees the child's. Request members chain the same way.
 */
export function extendScope (scope: FastifyInstance, members: object, requestMembers: object = {}): void {
  const parent = scope.chatwoot as ScopeView
  const view = Object.assign(Object.create(parent), members) as ScopeView
  view[kRequestMembers] = Object.assign(Object.create(parent[kRequestMembers] ?? null), requestMembers)
  Object.defineProperty(scope, 'chatwoot', { value: view, writable: true, configurable: true, enumerable: true })
}

/** The request's view: instance and client of its own, members from its scope's chain. */
export function requestView (view: ChatwootDecorator, instance: string, client: ChatwootClient): RequestChatwoot {
  const members = (view as ScopeView)[kRequestMembers] ?? null
  return Object.assign(Object.create(members), { instance, client, collection: view }) as RequestChatwoot
}
