// Helpers for testing gateways built on fastify-chatwoot against real servers.
export { assertPostgresReachable, createTestDatabase, serverUrl } from './database.js'
export type { CreateTestDatabaseOptions, TestDatabase } from './database.js'
