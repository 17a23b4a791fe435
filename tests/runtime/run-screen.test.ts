// `firmware run --board sim` as a person sees it: a real terminal (expect allocates a PTY), the
// live status screen, the keys, and a clean exit.

import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'

const root = join(import.meta.dirname, '..', '..')

t.test('the live screen shows the state; b presses the panel button, m releases, q quits cleanly', async (t) => {
  const script = join(t.testdir(), 'run.exp')
  writeFileSync(
    script,
    `
set timeout 15
proc want {re} {
  expect {
    -re $re {}
    timeout { puts "\\nTIMEOUT waiting for: $re"; exit 1 }
    eof { puts "\\nEOF waiting for: $re"; exit 2 }
  }
}
spawn ${process.execPath} bin/firmware.js run --board sim
# On a loaded machine inference may be late right after boot: ACTIVE by way of a short DEGRADED is fine.
want {state ACTIVE +cause (boot-complete|recovered) +relay processed +panel SIM-FP 1.0.0}
want {DOA +az +[-0-9.]+°}
want {keys: b = panel button, m = manual bypass, q/Ctrl-C = quit}
send "b"
want {state MANUAL_BYPASS +cause manual +relay bypass}
want {MANUAL_BYPASS: manual bypass on by panel button}
send "m"
want {state (ACTIVE +cause manual-release|DEGRADED +cause [-a-z]+) +relay processed}
send "q"
want {stopped: state BYPASS \\(shutdown\\), relay bypass}
expect eof
catch wait result
exit [lindex $result 3]
`,
  )
  const r = spawnSync('expect', [script], { cwd: root, encoding: 'utf8', timeout: 40000 })
  t.equal(r.status, 0, `expect session passed${r.status === 0 ? '' : `:\n${r.stdout.slice(-1500)}`}`)
})
