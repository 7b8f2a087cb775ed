// @ts-check
// Run by ../pack.test.ts with the packed package: registers `require('fastify-chatwoot')` itself on
// an app and asks a simulated Chatwoot (CHATWOOT_* from the test) for the inboxes through a route.
'use strict'

const fastify = require('fastify')
const fastifyChatwoot = require('fastify-chatwoot')

async function main () {
  const { CHATWOOT_URL = '', CHATWOOT_TOKEN = '', CHATWOOT_ACCOUNT = '', CHATWOOT_INBOX = '' } = process.env
  const app = fastify()
  await app.register(fastifyChatwoot, {
    instances: {
      resolve: (name) => name === 'acme'
        ? { chatwoot: { url: CHATWOOT_URL, accountId: Number(CHATWOOT_ACCOUNT), inboxId: Number(CHATWOOT_INBOX), token: CHATWOOT_TOKEN } }
        : undefined
    },
    postgres: false
  })
  app.get('/:instance/inboxes', { config: { chatwoot: true } }, async (request) => {
    if (request.chatwoot === null) throw new Error('the route asked for request.chatwoot')
    return (await request.chatwoot.client.listInboxes()).payload.map((inbox) => inbox.id)
  })
  await app.ready()
  const found = await app.inject('/acme/inboxes')
  const missing = await app.inject('/nobody/inboxes')
  await app.close()
  console.log(JSON.stringify({
    decorators: ['chatwootInstances', 'instancePg', 'chatwoot'].filter((name) => app.hasDecorator(name)),
    sameObjects: fastifyChatwoot.default === fastifyChatwoot && fastifyChatwoot.fastifyChatwoot === fastifyChatwoot,
    found: { status: found.statusCode, body: found.json() },
    missing: { status: missing.statusCode, code: missing.json().code }
  }))
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
