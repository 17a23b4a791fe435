// The `process` subcommand as the CLI runs it: parse, process, print one summary line. An --in
// ending in .pcap is an RTP capture of an AES67 stream, turned into a WAV first (docs/aes67.md).
import { dirname } from 'node:path'
import { formatShowTime, parseProcessArgs, processUsage } from './options.ts'
import { type Progress, processRecording } from './process.ts'
import { registerReportContributor } from './report.ts'

/**
 * The analysers (classifier, VAD, EQ recommender) add their report sections by registering a
 * contributor when their module loads. Loaded only once the command line is known to be good; if
 * they cannot load, the audio is still processed and the report says why the sections are empty.
 */
async function loadAnalysers(): Promise<void> {
  await import('./feedback-report.ts')
  try {
    await import('./inference-report.ts')
  } catch (e) {
    const why = ((e as Error)?.message ?? String(e)).split('\n')[0]!
    registerReportContributor('inference', async () => {
      throw new Error(`the analysers could not be loaded: ${why}`)
    })
  }
}

export async function runProcessCommand(argv: string[]): Promise<number> {
  const opts = parseProcessArgs(argv)
  if (!opts) {
    console.log(processUsage)
    return 0
  }
  let captureWav = ''
  if (/\.pcap$/i.test(opts.in)) {
    const pcap = opts.in
    captureWav = await rtpCaptureToWav(pcap)
    opts.in = captureWav
    opts.inputs = opts.inputs.map((x) => (x === pcap ? captureWav : x))
  }
  if (opts.loop) {
    const { runLoopCommand } = await import('./feedback-loop-command.ts')
    console.log(await runLoopCommand(opts))
    return 0
  }
  if (opts.analysis) await loadAnalysers()
  const bar = progressReporter(process.stderr, opts.progressEvery)
  try {
    const { summary } = await processRecording(opts, { onProgress: bar.update })
    bar.done()
    console.log(summary)
  } catch (e) {
    bar.done()
    throw e
  } finally {
    if (captureWav) (await import('node:fs')).rmSync(dirname(captureWav), { recursive: true, force: true })
  }
  return 0
}

/**
 * Progress on stderr: on a terminal a bar redrawn in place (show time, speed, time left); for a
 * script (stderr not a terminal) one line every `every` seconds, `progress {json}`, with the same
 * figures in seconds. Never on stdout, which carries the summary line.
 */
export function progressReporter(out: NodeJS.WriteStream, every: number, now = () => performance.now() / 1000) {
  const tty = out.isTTY === true
  // A terminal gets the bar at once; a script its first line after `every` seconds.
  let last = tty ? Number.NEGATIVE_INFINITY : now()
  let drawn = false
  const line = (p: Progress) => {
    const share = p.end > p.start ? (p.position - p.start) / (p.end - p.start) : 1
    const width = 24
    const fill = Math.round(share * width)
    const left = p.left === null ? '--' : formatShowTime(p.left).replace(/\.\d$/, '')
    return `${formatShowTime(p.position)} / ${formatShowTime(p.end)} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${p.speed.toFixed(1)}x real time, ${left} left`
  }
  return {
    update: (p: Progress) => {
      const t = now()
      if (tty) {
        if (t - last < 0.1) return
        last = t
        out.write(`\r${line(p)}\x1b[K`)
        drawn = true
      } else if (every > 0 && t - last >= every) {
        last = t
        const r = (v: number) => Math.round(v * 10) / 10
        out.write(
          `progress ${JSON.stringify({ position: r(p.position), end: r(p.end), start: r(p.start), speed: r(p.speed), left: p.left === null ? null : r(p.left) })}\n`,
        )
      }
    },
    done: () => {
      if (drawn) out.write(`\r\x1b[K`)
      drawn = false
    },
  }
}

/**
 * An RTP capture (pcap) of an AES67 stream as a WAV beside a temp folder, so a network rehearsal
 * recording replays through the same chain (docs/aes67.md). Returns the WAV's path.
 */
async function rtpCaptureToWav(path: string): Promise<string> {
  const { readRtpCapture } = await import('../netaudio/pcap.ts')
  const { writeWav } = await import('../wav/wav.ts')
  const { mkdtempSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join, basename } = await import('node:path')
  const c = readRtpCapture(path)
  const wav = join(mkdtempSync(join(tmpdir(), 'rtp-capture-')), `${basename(path, '.pcap')}.wav`)
  writeWav(wav, { channels: c.channels, sampleRate: c.sampleRate, format: c.bits === 24 ? 'pcm24' : 'pcm16' }, c.samples)
  console.error(`process: ${path}: RTP L${c.bits}/${c.sampleRate}/${c.channels}, SSRC ${c.ssrc}, ${c.packets} packets, ${c.missing} missing (silence)`)
  return wav
}
