// Node hands an ESM importer a CommonJS module's whole `module.exports` as its default, not
// `exports.default`: this entry gives `import fastifyChatwoot from 'fastify-chatwoot'` the plugin,
// and re-exports the very same objects, so import and require never hold two copies.
export * from '../dist/index.js'
export { fastifyChatwoot as default } from '../dist/index.js'
