// @ts-check
// An ES module user's app, type-checked beside app.js: the import entry keeps its default and named exports.
import fastify from 'fastify'
import fastifyChatwoot, { chatwootClient, chatwootInstances } from 'fastify-chatwoot'

const app = fastify()
app.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false })
app.register(chatwootInstances, { resolve: () => undefined })
app.register(chatwootClient, { timeout: 1000 })
// @ts-expect-error "instances" is required
app.register(fastifyChatwoot, {})

export { app }
