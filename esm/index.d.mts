export * from '../dist/index.js'
export { fastifyChatwoot as default } from '../dist/index.js'
