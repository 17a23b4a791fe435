// The OpenAPI description a unit serves: that of the whole `firmware run` stack (built-in commands
// plus those the store, inference, OSC and telemetry register), started on the sim board in
// `dataDir`. Used by the generator (scripts/docs/openapi.ts) and by the test that keeps
// docs/openapi.json current, so both describe the same thing.
import { openApiText } from '../../firmware/api/openapi.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'

export async function servedOpenApiText(dataDir: string): Promise<string> {
  let text = ''
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir },
    {
      panelPort: null,
      logDir: null,
      hardwareWatchdogs: [],
      services: [
        applianceStack({
          api: false,
          console: false,
          log: () => {},
          onRegistry: (r) => {
            text = openApiText(r)
          },
        }),
      ],
    },
  )
  await run.stop()
  return text
}
