// `firmware process` on 60 s of 16-channel audio (24-bit PCM in, 4 float beams out), timed the way
// a user would: the whole command, from spawn to exit; without and with the analysers.

import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseProcessArgs } from '../../firmware/process/options.ts'
import { processRecording } from '../../firmware/process/process.ts'
import { type BenchSection, boardArray, fixed, writeStageRecording } from './lib.ts'

const section: BenchSection = {
  name: 'firmware process',
  async run(ctx) {
    const seconds = ctx.quick ? 15 : 60
    const array = boardArray('jetson-agx-rack')
    const input = join(ctx.tmp, `process-${seconds}s.wav`)
    writeFileSync(join(ctx.tmp, 'array16.json'), JSON.stringify(array))
    ctx.log(`writing ${seconds} s of ${array.mics.length}-channel 24-bit audio`)
    writeStageRecording(input, array.mics, seconds, { format: 'pcm24' })
    const node = join(ctx.repoRoot, 'node_modules', '.bin', 'node')
    const cli = join(ctx.repoRoot, 'bin', 'firmware.js')
    const report = join(ctx.tmp, 'process-report.json')
    const timeCli = (extra: string[]): number => {
      const t0 = performance.now()
      const r = spawnSync(
        node,
        [cli, 'process', '--array', join(ctx.tmp, 'array16.json'), '--in', input, '--out', join(ctx.tmp, 'process-out.wav'), '--report', report, ...extra],
        { encoding: 'utf8' },
      )
      if (r.status !== 0) throw new Error(`firmware process failed: ${r.stderr.trim()}`)
      return (performance.now() - t0) / 1000
    }
    ctx.log('running firmware process with the analysers')
    const withAnalysis = timeCli([])
    const analysis = JSON.parse(readFileSync(report, 'utf8')) as { classes: unknown[]; vad: unknown[]; analysisErrors?: unknown[] }
    ctx.log('running firmware process --no-analysis')
    const wall = timeCli(['--no-analysis'])
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { elapsedSeconds: number; doa: unknown[]; engine: { droppedDoa: number } }
    // The same job in this process, for its CPU time (all threads): wall time on a shared machine
    // says as much about the neighbours as about us.
    const opts = parseProcessArgs([
      '--array',
      join(ctx.tmp, 'array16.json'),
      '--in',
      input,
      '--out',
      join(ctx.tmp, 'process-out2.wav'),
      '--report',
      join(ctx.tmp, 'process-report2.json'),
      '--no-analysis',
    ])!
    const cpu0 = process.cpuUsage()
    await processRecording(opts)
    const cpu = process.cpuUsage(cpu0)
    const cpuS = (cpu.user + cpu.system) / 1e6
    return [
      {
        metric: `${seconds} s of ${array.mics.length} channels, 4 beams + DOA: whole command, --no-analysis`,
        value: fixed(wall, 2),
        unit: 's',
        target: seconds === 60 ? '< 3 s' : '< 3 s for 60 s',
        note: `${fixed(seconds / wall, 0)}x real time; ${rep.doa.length} DOA estimates, ${rep.engine.droppedDoa} dropped`,
      },
      {
        metric: 'of which inside processRecording (the processing itself)',
        value: fixed(rep.elapsedSeconds, 2),
        unit: 's',
        note: 'engine, meters, report; the rest is Node start-up and module loading',
      },
      {
        metric: 'whole command with the analysers (classes, VAD, EQ)',
        value: fixed(withAnalysis, 2),
        unit: 's',
        note: `they run in the engine's pass from its features; ${analysis.classes.length} class records, ${analysis.vad.length} VAD segments${analysis.analysisErrors ? `; ${analysis.analysisErrors.length} analyser errors` : ''}`,
      },
      { metric: 'CPU time of the --no-analysis job (all threads)', value: fixed(cpuS, 2), unit: 's', note: 'in-process run; load-independent' },
    ]
  },
}
export default section
