// `npm start`: the gateway on the example's defaults (see environment.ts) beside a simulated
// Chatwoot with one account, and the curl commands to try it.
import closeWithGrace from 'close-with-grace'
import { buildGateway } from './app.js'
import { startEnvironment } from './environment.js'

async function main () {
  const environment = await startEnvironment({ fresh: false })
  const { chatwoot } = environment
  const app = await buildGateway({
    databaseUrl: environment.databaseUrl,
    ...(environment.redisUrl === undefined ? {} : { redisUrl: environment.redisUrl }),
    logger: { level: process.env.LOG_LEVEL ?? 'info' },
    conversations: { keyPrefix: environment.keyPrefix },
    outboxPoolMax: environment.outboxPoolMax
  })
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err !== undefined) app.log.error({ err }, 'closing on error')
    await app.close()
    await environment.close()
  })
  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })

  const account = await chatwoot.createAccount()
  const added = await app.inject({
    method: 'POST',
    url: '/instances',
    payload: { name: 'demo', chatwootUrl: chatwoot.url, accountId: account.accountId, inboxId: account.inboxId, token: account.token }
  })
  if (added.statusCode >= 300) throw new Error(`adding the demo instance failed: ${added.body}`)

  console.log(`
Gateway on ${address}  (database: ${environment.describe.database}; cache: ${environment.describe.cache})
Simulated Chatwoot on ${chatwoot.url}, account ${account.accountId}, inbox ${account.inboxId}; instance "demo" points at it.

Try:
  curl -s -X POST ${address}/instances/demo/messages -H 'content-type: application/json' \\
    -d '{"contact":{"identifier":"5511999990001@s.whatsapp.net","name":"Alice"},"message":{"content":"Hello!"}}'
  curl -s -X POST ${address}/instances/demo/media -F identifier=5511999990001@s.whatsapp.net -F content=photo -F attachments=@package.json
  curl -s ${address}/health
  curl -s ${address}/metrics
  curl -s -X POST ${address}/instances -H 'content-type: application/json' \\
    -d '{"name":"other","chatwootUrl":"${chatwoot.url}","accountId":${account.accountId},"inboxId":${account.inboxId},"token":"wrong-token"}'

Ctrl-C stops the gateway and the simulator.`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
