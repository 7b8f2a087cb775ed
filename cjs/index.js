'use strict'

// `require('fastify-chatwoot')` answers the plugin itself, as @fastify/redis and other fastify
// plugins do, so `app.register(require('fastify-chatwoot'), options)` type-checks under checkJs.
// Every named export hangs on it, and `.default` and `.fastifyChatwoot` point back to it. These are
// the very objects dist/index.js holds (which the ESM entry re-exports), so require and import
// never hold two copies of a class or a plugin.
const api = require('../dist/index.js')

module.exports = Object.assign(api.fastifyChatwoot, api)
