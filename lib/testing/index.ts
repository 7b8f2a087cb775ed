// Helpers for testing gateways built on fastify-chatwoot against real servers.
export { assertPostgresReachable, createTestDatabase, serverUrl } from './database.js'
export type { CreateTestDatabaseOptions, TestDatabase } from './database.js'
export { startEmbeddedPostgres } from './embedded-postgres.js'
export type { EmbeddedPostgres } from './embedded-postgres.js'
export { createChatwootSimulator, SimulatorEmbeddedUnavailableError, SimulatorOptionsInvalidError } from './simulator/index.js'
export type {
  ChatwootSimulator, ChatwootSimulatorOptions, CreateAccountOptions, CreateInboxOptions, CreatedAccount, FaultSpec,
  LoggedRequest
} from './simulator/index.js'
