// @ts-check
// A CommonJS user's app, type-checked with checkJs against the packed package (see ../pack.test.ts).
'use strict'

const fastify = require('fastify')
const { chatwootInstances, isChatwootError } = require('fastify-chatwoot')

const app = fastify()

/** @type {import('fastify-chatwoot').InstanceConfig} */
const acme = { chatwoot: { url: 'https://chat.example', accountId: 1, inboxId: 2, token: 'secret' }, database: { max: 2 } }

app.register(require('fastify-chatwoot'), { instances: { resolve: (name) => (name === 'acme' ? acme : undefined) }, postgres: { maxPools: 5 } })
app.register(require('fastify-chatwoot').default, { instances: { resolve: () => undefined }, postgres: false })
app.register(require('fastify-chatwoot').fastifyChatwoot, { instances: { resolve: () => undefined } })
// @ts-expect-error "instances" is required: the options are checked, not `any`
app.register(require('fastify-chatwoot'), { postgres: false })
// @ts-expect-error a plugin's options are typed too
app.register(chatwootInstances, { ttl: '1h' })

app.get('/:instance/inboxes', { config: { chatwoot: true } }, async (request) => {
  if (request.chatwoot === null) throw new Error('unreachable')
  return request.chatwoot.client.listInboxes()
})

async function rows () {
  // pg's own types come with the package: a pool is a pg.Pool, not `any`.
  const pool = await app.instancePg.pool('acme')
  /** @type {number} */
  const total = pool.totalCount
  // @ts-expect-error totalCount is a number
  /** @type {string} */ const wrong = pool.totalCount
  const result = await app.instancePg.query('acme', 'select 1 as one')
  return [total, wrong, result.rowCount]
}

/** @param {unknown} error */
function code (error) {
  return isChatwootError(error) ? error.code : undefined
}

module.exports = { app, rows, code }
