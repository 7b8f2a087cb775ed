import Fastify, { type FastifyInstance } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import { type InstancePg, instancePgOf, type RequestChatwoot, type RequestChatwootOf, type WithInstancePg } from '../..'

// RequestChatwootOf read through the config Fastify infers for each route (request.routeOptions.config
// carries the route's ContextConfig), the way the FastifyRequest augmentation would read it.
const app = Fastify()
type Of<Config> = RequestChatwootOf<Config>

app.get('/:instance/a', { config: { chatwoot: true } }, async (request) => {
  expectType<RequestChatwoot>({} as Of<typeof request.routeOptions.config>)
})
app.post('/b', { config: { chatwoot: { instance: (request) => String(request.headers['x-instance']) } } }, async (request) => {
  expectType<RequestChatwoot>({} as Of<typeof request.routeOptions.config>)
})
app.route({
  method: 'GET',
  url: '/:instance/c',
  config: { chatwoot: true },
  handler: async (request) => { expectType<RequestChatwoot>({} as Of<typeof request.routeOptions.config>) }
})
app.get('/:instance/d', { config: { chatwoot: true }, schema: { params: { type: 'object' } } }, async (request) => {
  expectType<RequestChatwoot>({} as Of<typeof request.routeOptions.config>)
})
app.get('/e', { config: { chatwoot: false } }, async (request) => {
  expectType<null>(null as Of<typeof request.routeOptions.config>)
})
app.get('/f', async (request) => {
  expectType<RequestChatwoot | null>(null as Of<typeof request.routeOptions.config>)
})
const asked: boolean = Math.random() > 0.5
app.get('/:instance/g', { config: { chatwoot: asked } }, async (request) => {
  expectType<RequestChatwoot | null>(null as Of<typeof request.routeOptions.config>)
})
app.addHook('preHandler', async (request) => {
  expectType<RequestChatwoot | null>(null as Of<typeof request.routeOptions.config>)
})
expectType<RequestChatwoot | null>(null as Of<unknown>)

expectType<InstancePg>(instancePgOf(app))
expectError(instancePgOf({}))
function usesPg (fastify: WithInstancePg) {
  expectType<InstancePg>(fastify.instancePg)
  expectAssignable<FastifyInstance>(fastify)
}
export { usesPg }
