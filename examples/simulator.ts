// `npm run sim`: a Chatwoot look-alike on this machine, for trying a gateway without a Chatwoot server.
// Embedded PGlite by default; SIM_DATABASE=postgres://... puts its database on a real server instead.
import { createChatwootSimulator } from '../lib/testing/index.js'

async function main () {
  const sim = await createChatwootSimulator({
    database: process.env.SIM_DATABASE,
    port: Number(process.env.SIM_PORT ?? 3001),
    host: process.env.SIM_HOST ?? '127.0.0.1'
  })
  const account = await sim.createAccount({ inboxName: 'Gateway inbox' })
  console.log(`Chatwoot simulator listening on ${sim.url}`)
  console.log(`  database     ${sim.databaseUrl}`)
  console.log(`  account id   ${account.accountId}`)
  console.log(`  inbox id     ${account.inboxId} (API inbox)`)
  console.log(`  admin token  ${account.token}`)
  console.log(`  bot token    ${account.botToken}`)
  console.log('\nTry:')
  console.log(`  curl -s -H 'api_access_token: ${account.token}' ${sim.url}/api/v1/accounts/${account.accountId}/inboxes`)
  console.log('\nCtrl-C stops it and removes its database.')
  const stop = async () => {
    await sim.close()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
