// Debian's Chromium as the browser tests start it (playwright-core drives it; its own browser
// downloads cannot work here). Without the background-networking flags Chromium opens connections
// this machine's closed network refuses, and looks up Google's hosts at every start.
export const CHROMIUM = '/usr/bin/chromium'

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
