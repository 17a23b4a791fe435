// Thermal zones as the board exposes them: files in a sysfs-like tree
// (<root>/class/thermal/thermal_zoneN/temp, millidegrees and a newline), some of which are missing,
// unreadable or garbage on a real unit (a driver not loaded, a sensor mid-probe).

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { SimThermal, SysfsThermal, type ThermalZone, thermalFor } from '../../firmware/hardware/thermal.ts'

/** A sysfs-like tree: zone name -> file content (undefined: no file; {dir}: a directory where the file should be). */
function sysfs(root: string, zones: Record<string, string | undefined | { dir: true }>): ThermalZone[] {
  return Object.entries(zones).map(([name, content], k) => {
    const dir = join(root, 'class', 'thermal', `thermal_zone${k}`)
    mkdirSync(dir, { recursive: true })
    const path = join(dir, 'temp')
    if (typeof content === 'string') writeFileSync(path, content)
    else if (content) mkdirSync(path)
    return { name, path, warnC: 85, bypassC: 95 }
  })
}

t.test('each zone reads its millidegrees as °C', async (t) => {
  const zones = sysfs(t.testdir(), { cpu: '45000\n', gpu: '81234\n', soc: '-5000\n' })
  const s = new SysfsThermal(zones)
  t.same(Object.fromEntries(s.read(0)), { cpu: 45, gpu: 81.234, soc: -5 })
  t.equal(s.readErrors, 0)
})

t.test('a missing, unreadable or garbage zone is left out and counted, never read as a temperature', async (t) => {
  const zones = sysfs(t.testdir(), {
    cpu: '52000\n',
    missing: undefined,
    directory: { dir: true },
    garbage: 'abc\n',
    empty: '',
    blank: '  \n',
    partial: '52000junk\n',
    huge: '1e400\n',
  })
  const s = new SysfsThermal(zones)
  const r = s.read(0)
  // An empty or blank file once read as 0 °C: a cold reading in place of one that failed hides overheating.
  t.same(Object.fromEntries(r), { cpu: 52 }, 'only the zone with a reading')
  t.equal(s.readErrors, 7, 'each zone that gave no reading is counted')
})

t.test('readings are taken at most every interval; a change shows after it', async (t) => {
  const [zone] = sysfs(t.testdir(), { cpu: '40000\n' })
  const s = new SysfsThermal([zone!], 500)
  t.equal(s.read(1000).get('cpu'), 40)
  writeFileSync(zone!.path, '90000\n')
  t.equal(s.read(1400).get('cpu'), 40, 'inside the interval the last reading stands')
  t.equal(s.read(1500).get('cpu'), 90, 'after it the file is read again')
})

t.test('a zone whose file appears later is read from then on', async (t) => {
  const root = t.testdir()
  const [zone] = sysfs(root, { cpu: undefined })
  const s = new SysfsThermal([zone!], 0)
  t.equal(s.read(0).size, 0)
  writeFileSync(zone!.path, '60000\n')
  t.equal(s.read(1).get('cpu'), 60)
})

t.test('thermalFor picks the settable simulation for simulated zones and sysfs otherwise', async (t) => {
  const sim = thermalFor([{ name: 'cpu', path: 'sim', warnC: 85, bypassC: 95, source: 'simulated' }])
  t.ok(sim instanceof SimThermal)
  t.equal(sim.read().get('cpu'), 45, 'a simulated zone starts at 45 °C')
  ;(sim as SimThermal).set('cpu', 97)
  t.equal(sim.read().get('cpu'), 97)
  const zones = sysfs(t.testdir(), { cpu: '70000\n' })
  const real = thermalFor(zones)
  t.ok(real instanceof SysfsThermal)
  t.equal(real.read().get('cpu'), 70)
})
