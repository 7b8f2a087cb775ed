import createError from '@fastify/error'

// Failures of the simulator itself (not the Chatwoot answers it serves), coded like the rest of the collection.

export const SimulatorOptionsInvalidError = createError(
  'FST_CHATWOOT_SIM_OPTIONS_INVALID',
  'Invalid simulator option %s: %s',
  500
)

export const SimulatorEmbeddedUnavailableError = createError(
  'FST_CHATWOOT_SIM_EMBEDDED_UNAVAILABLE',
  'The embedded database needs @electric-sql/pglite and @electric-sql/pglite-socket (%s); install them or pass `database`',
  500
)
