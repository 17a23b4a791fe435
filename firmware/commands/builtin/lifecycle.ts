// The unit's life: reboot and factory reset (destructive: each asks for a confirm token).
import { spec } from '../types.ts'
import { notAvailable } from './args.ts'

export const reboot = spec({
  name: 'reboot',
  summary: 'restart the firmware (audio passes dry through the relay meanwhile)',
  examples: ['reboot'],
  permission: 'admin',
  destructive: true,
  args: [],
  handler: async (_a, { app, principal }) => {
    if (!app.reboot) notAvailable('reboot', 'the runtime restart hook')
    // Answer first, then restart: the reply must reach the caller before the process goes.
    setTimeout(() => void app.reboot!(principal.name).catch(() => {}), 100).unref()
    return { rebooting: true }
  },
})

export const factoryReset = spec({
  name: 'factory-reset',
  summary: 'erase presets and settings (keeps the device identity), then restart',
  examples: ['factory-reset'],
  permission: 'admin',
  destructive: true,
  args: [],
  timeoutMs: 30_000,
  handler: async (_a, { app, principal }) => {
    if (!app.factoryReset) notAvailable('factory-reset', 'the runtime reset hook')
    await app.factoryReset!(principal.name)
    return { reset: true }
  },
})
