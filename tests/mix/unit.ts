// The unit as `firmware run` assembles it (the stack's registry) on a sim stage of the test's
// choosing, with its API on an ephemeral port; and a poll that reports instead of throwing, for
// tests that assert on the answer themselves.

import type { ApiHandle } from '../../firmware/api/server.ts'
import { startApi } from '../../firmware/api/server.ts'
import { loadProfile } from '../../firmware/board/profile.ts'
import type { CommandRegistry } from '../../firmware/commands/index.ts'
import type { SimSource } from '../../firmware/engine/types.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'

/** Polls `what` (every 100 ms) until it holds or `ms` pass; its last answer. */
export async function eventually(what: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await what()) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return what()
}

/** The sim board with these sources on its stage. */
export async function bootUnit(dataDir: string, sources: SimSource[]): Promise<{ api: ApiHandle; stop: () => Promise<void> }> {
  const p = loadProfile('sim')
  let registry: CommandRegistry | null = null
  let api: ApiHandle | null = null
  const run = await startAppliance(
    { ...p, audio: { ...p.audio, sim: { ...p.audio.sim!, sources } }, dataDir },
    {
      panelPort: null,
      logDir: null,
      hardwareWatchdogs: [],
      services: [
        applianceStack({ inference: false, console: false, api: false, osc: false, telemetry: false, log: () => {}, onRegistry: (r) => (registry = r) }),
        async (app) => {
          api = await startApi(app, registry!, app.profile, { port: 0, host: '127.0.0.1' })
          return api
        },
      ],
    },
  )
  return { api: api!, stop: () => run.stop() }
}
