// A unit as its own process for the telemetry tests: the real appliance on the sim board with the
// store and telemetry (no API, console or inference, so it binds no fixed port and starts fast).
// Prints "ready" once its services run; SIGTERM stops it cleanly; the tests also kill -9 it.
import { loadProfile } from '../../firmware/board/profile.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'

const dataDir = process.argv[2]
if (!dataDir) throw new Error('usage: unit.ts <dataDir>')
const run = await startAppliance(
  { ...loadProfile('sim'), dataDir },
  { services: [applianceStack({ api: false, console: false, inference: false, log: (l, m) => process.stderr.write(`${l}: ${m}\n`) })] },
)
process.stdout.write('ready\n')
process.on('SIGTERM', () => {
  void run.stop().then(() => process.exit(0))
})
