// `firmware process` on 60 s of 16-channel audio (24-bit PCM in, 4 float beams out), timed the way
// a user would: the whole command, from spawn to exit.
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { boardArray, writeStageRecording, fixed, type BenchSection } from './lib.ts'
import { parseProcessArgs } from '../../firmware/process/options.ts'
import { processRecording } from '../../firmware/process/process.ts'

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
    ctx.log('running firmware process')
    const t0 = performance.now()
    const r = spawnSync(node, [cli, 'process', '--array', join(ctx.tmp, 'array16.json'), '--in', input, '--out', join(ctx.tmp, 'process-out.wav'), '--report', report], { encoding: 'utf8' })
    const wall = (performance.now() - t0) / 1000
    if (r.status !== 0) throw new Error(`firmware process failed: ${r.stderr.trim()}`)
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { elapsedSeconds: number; doa: unknown[]; engine: { droppedDoa: number } }
    // The same job in this process, for its CPU time (all threads): wall time on a shared machine
    // says as much about the neighbours as about us.
    const opts = parseProcessArgs(['--array', join(ctx.tmp, 'array16.json'), '--in', input, '--out', join(ctx.tmp, 'process-out2.wav'), '--report', join(ctx.tmp, 'process-report2.json')])!
    const cpu0 = process.cpuUsage()
    await processRecording(opts)
    const cpu = process.cpuUsage(cpu0)
    const cpuS = (cpu.user + cpu.system) / 1e6
    return [
      {
        metric: `${seconds} s of ${array.mics.length} channels, 4 beams + DOA: whole command`,
        value: fixed(wall, 2),
        unit: 's',
        target: seconds === 60 ? '< 3 s' : '< 3 s for 60 s',
        note: `${fixed(seconds / wall, 0)}x real time; ${rep.doa.length} DOA estimates, ${rep.engine.droppedDoa} dropped`,
      },
      { metric: 'of which inside processRecording', value: fixed(rep.elapsedSeconds, 2), unit: 's', note: 'the rest is Node start-up and module loading' },
      { metric: 'CPU time of the same job (all threads)', value: fixed(cpuS, 2), unit: 's', note: 'in-process run; load-independent' },
    ]
  },
}
export default section
