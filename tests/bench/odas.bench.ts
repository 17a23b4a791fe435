// Issue 18's CPU yardstick measured, not quoted: ODAS (introlab/odas, `odaslive`) localising,
// tracking and separating a 15 s 8-channel recording, beside `firmware process` on the same
// recording, both as CPU seconds per audio second of the whole command (all threads and child
// processes, from the shell's `times`). ODAS is not in Debian, so this section runs only where a
// built checkout is named: ODAS_DIR=/path/to/odas (with build/bin/odaslive) npm run bench -- odas.
// Its configuration is ODAS's own `config/odaslive/matrix_creator.cfg` (8 mics, 48 kHz in,
// resampled to 16 kHz, SSL + SST + SSS), with the sound card and the sockets swapped for files.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BenchSection, fixed, writeStageRecording } from './lib.ts'

const SECONDS = 15

/** CPU seconds (user + system) the command and every process it waited for used. */
function cpuSeconds(argv: string[]): number {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
  const r = spawnSync('bash', ['-c', `${quoted} >/dev/null 2>/tmp/odas-bench-stderr || exit 3; times`], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${argv[0]} failed: ${readFileSync('/tmp/odas-bench-stderr', 'utf8').trim().slice(-300)}`)
  // `times` prints the shell's own line, then its children's: "0m0.810s 0m0.150s".
  const children = r.stdout.trim().split('\n').at(-1)!
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]))
  return secs[0]! + secs[1]!
}

/** The mic positions ODAS's configuration names, in metres (`mu = ( x, y, z );`). */
function odasMics(cfg: string): Array<[number, number, number]> {
  const block = cfg.slice(cfg.indexOf('mics = ('))
  const end = block.indexOf('\n    );')
  return [...block.slice(0, end).matchAll(/mu = \(\s*([-+\d.]+),\s*([-+\d.]+),\s*([-+\d.]+)\s*\)/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])])
}

const section: BenchSection = {
  name: 'ODAS beside firmware process',
  async run(ctx) {
    const dir = process.env.ODAS_DIR
    const bin = dir ? join(dir, 'build', 'bin', 'odaslive') : ''
    if (!dir || !existsSync(bin)) {
      return [{ metric: 'skipped', value: 'set ODAS_DIR to a built introlab/odas checkout (build/bin/odaslive)' }]
    }
    const shipped = readFileSync(join(dir, 'config', 'odaslive', 'matrix_creator.cfg'), 'utf8')
    const mics = odasMics(shipped)
    if (mics.length !== 8) throw new Error(`matrix_creator.cfg: expected 8 mics, read ${mics.length}`)
    const wav = join(ctx.tmp, 'odas-in.wav')
    writeStageRecording(wav, mics, SECONDS, { format: 'pcm16', azimuth: 40 })
    // odaslive's file input is raw interleaved 16-bit PCM: the WAV's data chunk.
    const bytes = readFileSync(wav)
    const data = bytes.indexOf('data', 12)
    const raw = join(ctx.tmp, 'odas-in.raw')
    writeFileSync(raw, bytes.subarray(data + 8))
    const outputs = ['pots.json', 'tracks.json', 'separated.raw', 'postfiltered.raw'].map((f) => join(ctx.tmp, `odas-${f}`))
    let next = 0
    const cfg = shipped
      .replace(/interface: \{\s*type = "soundcard";[^}]*\}/, `interface: { type = "file"; path = "${raw}"; }`)
      .replace(/interface: \{\s*type = "socket";[^}]*\}/g, () => `interface: { type = "file"; path = "${outputs[next++]}"; }`)
    if (next !== 4) throw new Error(`matrix_creator.cfg: expected 4 socket outputs to redirect, found ${next}`)
    const cfgPath = join(ctx.tmp, 'odas.cfg')
    writeFileSync(cfgPath, cfg)
    writeFileSync(join(ctx.tmp, 'odas-array.json'), JSON.stringify({ sampleRate: 48000, mics }))

    const node = join(ctx.repoRoot, 'node_modules', '.bin', 'node')
    const cli = join(ctx.repoRoot, 'bin', 'firmware.js')
    const ours = (extra: string[]) => [
      node,
      cli,
      'process',
      '--array',
      join(ctx.tmp, 'odas-array.json'),
      '--in',
      wav,
      '--out',
      join(ctx.tmp, 'odas-ours.wav'),
      ...extra,
    ]
    const runs = ctx.quick ? 1 : 3
    const odas: number[] = []
    const full: number[] = []
    const bare: number[] = []
    // Alternated, so a neighbour's burst lands on both.
    for (let i = 0; i < runs; i++) {
      ctx.log(`run ${i + 1} of ${runs}: odaslive, firmware process, firmware process --no-analysis`)
      odas.push(cpuSeconds([bin, '-c', cfgPath]))
      full.push(cpuSeconds(ours(['--report', join(ctx.tmp, 'odas-ours.json')])))
      bare.push(cpuSeconds(ours(['--report', join(ctx.tmp, 'odas-ours-bare.json'), '--no-analysis'])))
    }
    const separated = readFileSync(outputs[2]!).length
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!
    const per = (v: number[]) => median(v) / SECONDS
    return [
      {
        metric: `ODAS odaslive, ${SECONDS} s x 8 ch (SSL + SST + SSS), CPU per audio second`,
        value: fixed(per(odas), 3),
        unit: 'CPU-s/s',
        note: `median of ${runs}: ${odas.map((v) => fixed(v, 2)).join(', ')} CPU-s; ${separated} bytes of separated audio written`,
      },
      {
        metric: 'firmware process with the analysers, same file',
        value: fixed(per(full), 3),
        unit: 'CPU-s/s',
        target: `<= ${fixed(per(odas) / 5, 3)} (1/5 of ODAS here)`,
        note: `${fixed(per(full) / per(odas), 2)}x ODAS; runs ${full.map((v) => fixed(v, 2)).join(', ')} CPU-s`,
      },
      {
        metric: 'firmware process --no-analysis, same file',
        value: fixed(per(bare), 3),
        unit: 'CPU-s/s',
        note: `${fixed(per(bare) / per(odas), 2)}x ODAS`,
      },
    ]
  },
}
export default section
