// The addon's one FFT (addons/src/dsp/fft.h) on the sizes the firmware uses: ns per transform in
// double (the audio path: MVDR beamformer, DOA) and float (the feature thread: log-mel, band
// spectrum), their ratio, and the error against a direct DFT. fft_bench.cc is built with the
// addon's flags into the scratch folder; a machine without g++ prints an error row.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { type BenchSection, fixed } from './lib.ts'

const section: BenchSection = {
  name: 'fft',
  async run(ctx) {
    const src = join(ctx.repoRoot, 'addons', 'src')
    const bin = join(ctx.tmp, 'fft_bench')
    const built = spawnSync(
      'g++',
      [
        '-std=c++17',
        '-O2',
        `-I${src}`,
        join(ctx.repoRoot, 'tests', 'bench', 'fft_bench.cc'),
        join(src, 'dsp', 'fft.cc'),
        join(src, 'dsp', 'geometry.cc'),
        '-o',
        bin,
      ],
      { encoding: 'utf8' },
    )
    if (built.status !== 0) throw new Error(`g++ failed: ${built.stderr || built.error?.message}`)
    const run = spawnSync(bin, [ctx.quick ? '0.1' : '0.5'], { encoding: 'utf8', timeout: 120_000 })
    if (run.status !== 0) throw new Error(`fft_bench failed: ${run.stderr}`)
    const lines = run.stdout.trim().split('\n').slice(1)
    return lines.map((l) => {
      const [use, kind, n, dNs, fNs, ratio, dErr, fErr] = l.split('\t') as [string, string, string, string, string, string, string, string]
      return {
        metric: `${kind} ${n}: ns per transform, double / float (${use})`,
        value: `${dNs} / ${fNs}`,
        unit: 'ns',
        note: `double/float ${fixed(Number(ratio), 2)}x; error vs DFT ${dErr} (double), ${fErr} (float)`,
      }
    })
  },
}
export default section
