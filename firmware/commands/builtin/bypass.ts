// bypass: the manual relay bypass.
import { spec } from '../types.ts'

export const bypass = spec({
  name: 'bypass',
  summary: 'manual bypass on (latched until someone turns it off) or off',
  examples: ['bypass on', 'bypass off'],
  permission: 'operate',
  args: [{ name: 'state', type: 'bool', help: 'on or off' }],
  handler: async (args, { app, principal }) => {
    const on = args.state as boolean
    app.setManualBypass(on, principal.name)
    // The runtime moves the relay on its next tick; report the relay as it ends up, not as it was.
    const want = on ? 'bypass' : 'processed'
    for (let i = 0; i < 10 && app.status().relay !== want; i++) await new Promise((r) => setTimeout(r, 10))
    const s = app.status()
    return { bypass: on, state: s.state, relay: s.relay }
  },
})
