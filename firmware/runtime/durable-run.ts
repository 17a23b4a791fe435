// What `firmware run` does around each start of the appliance so the unit is safe across crashes
// and power cuts: before it starts, open the durable settings and write the run marker (how the
// previous run ended: firmware/runtime/run-record.ts); in Appliance.start's beforeActive hook,
// report the previous run (stdout, the appliance log, the transition log, status), restore the
// settings and start persisting changes; after a clean stop, write what is pending, record a stop
// from BYPASS (which makes no transition) and mark the run stopped.
import { join } from 'node:path'
import type { BoardProfile } from '../board/profile.ts'
import { addStatusFields } from '../commands/builtin.ts'
import { DurableSettings } from '../store/settings.ts'
import type { Appliance } from './appliance.ts'
import { beginRun, describePreviousRun, endRun, previousRunRecord } from './run-record.ts'

export interface DurableRun {
  /** For Appliance.start's beforeActive option. */
  beforeActive(app: Appliance): void
  /** After a clean stop of the appliance; `stateAtStop` is the watchdog state just before it. */
  stopped(app: Appliance, stateAtStop: string): Promise<void>
  /** The appliance did not start: close, and do not leave the run marked running. */
  failed(): Promise<void>
}

/** `logDir`: the appliance's transition-log directory (undefined: the default under dataDir). */
export async function prepareDurableRun(profile: BoardProfile, logDir: string | null | undefined): Promise<DurableRun> {
  let appRef: Appliance | null = null
  const early: Array<['info' | 'warn', string]> = []
  const storeLog = (level: 'info' | 'warn', m: string) => {
    if (level === 'warn') process.stderr.write(`warning: store: ${m}\n`)
    if (appRef) appRef.logLine(level, 'store', m)
    else early.push([level, m])
  }
  const settings = await DurableSettings.open(profile.dataDir, { log: storeLog })
  // Written (and fsynced) here, not in the hook: the hook runs while the engine waits for its
  // heartbeat, and must stay quick.
  const dir = logDir === undefined ? join(profile.dataDir, 'watchdog') : logDir
  const previous = beginRun({
    dataDir: profile.dataDir,
    board: profile.name,
    logFile: dir === null ? null : join(dir, 'transitions.jsonl'),
    settingsDigest: settings.storedDigest,
  })
  return {
    beforeActive(a) {
      appRef = a
      for (const [level, m] of early) a.logLine(level, 'store', m)
      const said = describePreviousRun(previous)
      a.log.append(previousRunRecord(previous))
      a.logLine(previous.ended === 'crash' || previous.ended === 'power-loss' ? 'warn' : 'info', 'runtime', said)
      process.stdout.write(`${said}\n`)
      a.logLine('info', 'store', settings.restore(a))
      settings.attach(a)
      addStatusFields(a, () => ({ last_run: said, last_run_ended: previous.ended }))
    },
    async stopped(a, stateAtStop) {
      await settings.close()
      if (stateAtStop === 'BYPASS' || stateAtStop === 'MANUAL_BYPASS') {
        a.log.append({
          at: Date.now(),
          from: stateAtStop,
          to: stateAtStop,
          cause: 'shutdown',
          evidence: `clean stop while in ${stateAtStop} (the relay was already down)`,
        })
      }
      a.log.close()
      endRun(profile.dataDir, profile.name)
    },
    async failed() {
      await settings.close()
      endRun(profile.dataDir, profile.name)
    },
  }
}
