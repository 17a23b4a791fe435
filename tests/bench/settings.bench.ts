// Durable settings: the soak of tests/store/settings-soak.ts at full length (1,000 kill -9 at
// random moments during a stream of acknowledged console changes against firmware run's boot),
// and what the durability costs a reply (console command round trip, which includes the commit).
// SETTINGS_BENCH_KILLS overrides the count; --quick runs 50. Then the same on a provisioned unit
// with half the changes through the HTTPS API: SETTINGS_BENCH_API_KILLS (200; --quick 20; 0 skips).
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { loadProfile } from '../../firmware/board/profile.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { DurableSettings } from '../../firmware/store/settings.ts'
import { settingsSoak } from '../store/settings-soak.ts'
import { type BenchRow, type BenchSection, fixed, percentile } from './lib.ts'

/** Commit cost on this disk: single awaited changes, and a burst (what a preset load does). */
async function commitFigures(dataDir: string, n: number): Promise<BenchRow[]> {
  mkdirSync(dataDir, { recursive: true })
  const settings = await DurableSettings.open(dataDir, { log: () => {} })
  const run = await startAppliance(
    { ...loadProfile('sim'), dataDir },
    {
      panelPort: null,
      logDir: null,
      hardwareWatchdogs: [],
      services: [],
      beforeActive: (app) => {
        settings.restore(app)
        settings.attach(app)
      },
    },
  )
  try {
    const single: number[] = []
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      run.app.setOutputGain(i % 4, -(i % 40), 'bench')
      await settings.flushed()
      single.push(performance.now() - t0)
    }
    single.sort((a, b) => a - b)
    const c0 = settings.stats.commits
    const t0 = performance.now()
    for (let k = 0; k < 4; k++)
      for (let b = 0; b < 8; b++) run.app.setEqBand(k, b, { type: 'peak', freqHz: 100 * (b + 1), gainDb: -1, q: 1, enabled: true }, 'bench')
    await settings.flushed()
    const burstMs = performance.now() - t0
    return [
      {
        metric: 'one change, change -> on disk (write, fsync, renames, dir fsync)',
        value: `${fixed(percentile(single, 50), 1)} / ${fixed(percentile(single, 99), 1)} / ${fixed(single[single.length - 1]!, 1)}`,
        unit: 'ms',
        note: `p50 / p99 / max of ${n}`,
      },
      {
        metric: 'burst of 32 changes (a preset load), commits and time',
        value: `${settings.stats.commits - c0} / ${fixed(burstMs, 1)}`,
        unit: 'ms',
        note: 'group commit',
      },
    ]
  } finally {
    await run.stop()
    await settings.close()
  }
}

const section: BenchSection = {
  name: 'settings',
  async run(ctx) {
    const commit = await commitFigures(join(ctx.tmp, 'commit'), ctx.quick ? 50 : 300)
    const kills = Number(process.env.SETTINGS_BENCH_KILLS ?? (ctx.quick ? 50 : 1000))
    const seed = Number(process.env.SETTINGS_SEED ?? 1234)
    const t0 = performance.now()
    const r = await settingsSoak({
      dir: ctx.tmp,
      kills,
      seed,
      log: (m) => {
        if (/kill \d*0\//.test(m)) ctx.log(m)
      },
    })
    const s = (performance.now() - t0) / 1000
    const ms = [...r.replyMs].sort((a, b) => a - b)
    const rows: BenchRow[] = [
      ...commit,
      {
        metric: 'kill -9 at random moments',
        value: r.kills,
        note: `seed ${seed}; ${r.inFlight} with a command in flight (${r.inFlightAcked} acknowledged just before, ${r.inFlightLanded} landed unacknowledged); ${fixed(s, 0)} s`,
      },
      { metric: 'acknowledged changes', value: r.acknowledged, note: 'console gain/trim, each reply awaited' },
      { metric: 'acknowledged changes lost', value: r.lost, target: '0' },
      { metric: 'stores that fail to load', value: r.unloadable, target: '0' },
      { metric: 'crashes not recorded at the next start', value: r.unrecorded, target: '0' },
      {
        metric: 'change reply p50 (includes the commit)',
        value: fixed(percentile(ms, 50), 1),
        unit: 'ms',
        note: 'console round trip over a PTY, machine mode',
      },
      { metric: 'change reply p99', value: fixed(percentile(ms, 99), 1), unit: 'ms' },
      { metric: 'change reply max', value: fixed(ms[ms.length - 1] ?? 0, 1), unit: 'ms' },
    ]
    if (r.failures.length) ctx.log(`failures:\n${r.failures.slice(0, 20).join('\n')}`)
    // The same on a provisioned unit, half the changes through the HTTPS API (slower starts).
    const apiKills = Number(process.env.SETTINGS_BENCH_API_KILLS ?? (ctx.quick ? 20 : 200))
    if (apiKills > 0) {
      mkdirSync(join(ctx.tmp, 'api'), { recursive: true })
      const t1 = performance.now()
      const a = await settingsSoak({
        dir: join(ctx.tmp, 'api'),
        kills: apiKills,
        seed: seed + 1,
        api: true,
        log: (m) => {
          if (/kill \d*0\//.test(m)) ctx.log(`api ${m}`)
        },
      })
      const am = [...a.replyMs].sort((x, y) => x - y)
      rows.push(
        {
          metric: 'console + API: kill -9 at random moments',
          value: a.kills,
          note: `seed ${seed + 1}; ${a.inFlight} with a request in flight; ${fixed((performance.now() - t1) / 1000, 0)} s`,
        },
        {
          metric: 'console + API: acknowledged changes',
          value: a.acknowledged,
          note: `${a.viaApi} through the API (operator certificate), the rest through the console (PIN login)`,
        },
        { metric: 'console + API: lost / fail to load / crash not recorded', value: `${a.lost} / ${a.unloadable} / ${a.unrecorded}`, target: '0 / 0 / 0' },
        { metric: 'console + API: change reply p50 / p99', value: `${fixed(percentile(am, 50), 1)} / ${fixed(percentile(am, 99), 1)}`, unit: 'ms' },
      )
      if (a.failures.length) ctx.log(`api failures:\n${a.failures.slice(0, 20).join('\n')}`)
    }
    return rows
  },
}
export default section
