// One PDS with an in-memory PLC directory, open for sign-ups, until SIGTERM or SIGINT.
import { TestNetworkNoAppView } from '@atproto/dev-env'

const port = Number(process.env.PDS_PORT || 2583)
const network = await TestNetworkNoAppView.create({
  pds: { port, hostname: 'localhost', inviteRequired: false },
})
console.log(`PDS ready at ${network.pds.url}`)
const shutdown = async () => {
  await network.close()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
