import Fastify from 'fastify'
import { test } from 'tap'
import { fastifyChatwoot, instancePgOf, instancePostgres } from '../../lib/index.js'

test('instancePgOf answers the decorator where instancePostgres is registered, and fails with a code where not', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(instancePostgres, { resolve: () => 'postgres://127.0.0.1:5432/none' })
  t.equal(instancePgOf(app), app.instancePg)
  await app.register(async (child) => { t.equal(instancePgOf(child), app.instancePg, 'an encapsulated plugin sees its parent\'s') })

  const without = Fastify()
  t.teardown(() => without.close())
  await without.register(fastifyChatwoot, { instances: { resolve: () => undefined }, postgres: false })
  t.throws(() => instancePgOf(without), { code: 'FST_ERR_DEC_UNDECLARED' }, 'postgres: false leaves no instancePg to hand out')
})
