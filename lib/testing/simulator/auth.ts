import type { FastifyRequest } from 'fastify'
import {
  accountSuspendedAnswer, actionNotAllowed, botNotAllowed, botNotInAccount, invalidAccessToken, notFound, notInAccount, signInRequired
} from './answers.js'
import type { ChatwootRouteConfig, SimulatorContext } from './context.js'
import { accountSuspended, findPrincipal } from './data/accounts.js'
import { id, type Params } from './params.js'

const ADMINISTRATOR = 1

/**
 * Chatwoot's order of checks: the token (Devise when the header is missing), then bots on
 * endpoints not open to them, then the account (404 when it does not exist, 401 when it is
 * suspended or the token's owner is not in it), then the action's permission.
 */
export function authenticate (context: SimulatorContext) {
  return async function authenticateRequest (request: FastifyRequest): Promise<void> {
    const header = request.headers.api_access_token
    const token = Array.isArray(header) ? header[0] : header
    if (token === undefined || token === '') throw signInRequired()
    let principal = context.principals.get(token)
    if (principal === undefined) {
      principal = await findPrincipal(context.pool, token)
      if (principal === undefined) throw invalidAccessToken()
      context.principals.set(token, principal)
    }
    const config = request.routeOptions.config as ChatwootRouteConfig
    if (principal.type === 'AgentBot' && config.bots !== true) throw botNotAllowed()
    const accountId = id((request.params as Params).account_id)
    if (accountId === undefined) throw notFound()
    let suspended = context.suspendedAccounts.get(accountId)
    if (suspended === undefined) {
      suspended = await accountSuspended(context.pool, accountId)
      if (suspended === undefined) throw notFound()
      context.suspendedAccounts.set(accountId, suspended)
    }
    // ensure_current_account: a suspended account refuses everyone before membership is looked at.
    if (suspended) throw accountSuspendedAnswer()
    const role = principal.accounts.get(accountId)
    if (role === undefined) throw principal.type === 'AgentBot' ? botNotInAccount() : notInAccount()
    if (config.administrators === true && role !== ADMINISTRATOR) throw actionNotAllowed()
    request.principal = principal
    request.accountId = accountId
  }
}
