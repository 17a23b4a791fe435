// Programme for the feedback tests and benchmark, from sources that share nothing with
// models/train.py's generators: music rendered by fluidsynth from the Debian General MIDI
// soundfonts (a MIDI file written here as bytes: several instruments, held notes, chords), speech
// from flite (several voices) and festival (text2wave, kal diphone). Everything is resampled to 48
// kHz mono float by sox and scaled to a programme level (RMS dBFS).

import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { readWav } from '../../firmware/wav/wav.ts'

export const SOUNDFONTS = ['/usr/share/sounds/sf2/TimGM6mb.sf2', '/usr/share/sounds/sf2/FluidR3_GM.sf2', '/usr/share/sounds/sf3/MuseScore_General.sf3'].filter(
  (p) => existsSync(p),
)
export const FLITE_VOICES = ['kal', 'awb', 'rms', 'slt']

/** General MIDI programs: piano, organ, strings, flute, trumpet, violin, choir, clarinet, sax, vibraphone. */
export const INSTRUMENTS = [0, 19, 48, 73, 56, 40, 52, 71, 65, 11]

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 2 ** 32
  }
}

function varLen(n: number): number[] {
  const out = [n & 0x7f]
  for (let v = n >> 7; v > 0; v >>= 7) out.unshift((v & 0x7f) | 0x80)
  return out
}

/**
 * A type-0 MIDI file: `voices` instruments on their own channels, each playing a seeded line of
 * notes and chords, some held for seconds (the hardest case for a howl detector: a steady partial).
 */
export function midiBytes(seconds: number, seed: number, programs: number[]): Uint8Array {
  const r = rng(seed)
  const tpq = 480 // ticks per quarter; 120 bpm: 960 ticks a second
  const events: Array<{ tick: number; bytes: number[] }> = []
  const scale = [0, 2, 4, 5, 7, 9, 11]
  programs.forEach((prog, ch) => {
    events.push({ tick: 0, bytes: [0xc0 | ch, prog] })
    let tick = Math.floor(r() * 480)
    const base = 48 + 12 * (ch % 3)
    while (tick < seconds * 960) {
      const held = r() < 0.25
      const len = held ? 960 * (1 + Math.floor(r() * 3)) : 120 * (1 + Math.floor(r() * 4))
      const chord = r() < 0.3 ? [0, 4, 7] : [0]
      const root = base + scale[Math.floor(r() * 7)]! + 12 * Math.floor(r() * 2)
      const vel = 60 + Math.floor(r() * 50)
      for (const c of chord) {
        events.push({ tick, bytes: [0x90 | ch, root + c, vel] })
        events.push({ tick: tick + len, bytes: [0x80 | ch, root + c, 0] })
      }
      tick += len + (r() < 0.2 ? Math.floor(r() * 480) : 0)
    }
  })
  events.sort((a, b) => a.tick - b.tick)
  const track: number[] = [0x00, 0xff, 0x51, 0x03, 0x07, 0xa1, 0x20] // tempo 500000 us per quarter
  let last = 0
  for (const e of events) {
    track.push(...varLen(e.tick - last), ...e.bytes)
    last = e.tick
  }
  track.push(0x00, 0xff, 0x2f, 0x00)
  const len = track.length
  return Uint8Array.from([
    ...[0x4d, 0x54, 0x68, 0x64, 0, 0, 0, 6, 0, 0, 0, 1, tpq >> 8, tpq & 0xff],
    ...[0x4d, 0x54, 0x72, 0x6b, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff],
    ...track,
  ])
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error}`)
}

/** Reads a WAV, converts to 48 kHz mono float with sox, scales to `rmsDb` dBFS. */
function to48kMono(inPath: string, outPath: string, rmsDb: number): Float32Array {
  run('sox', [inPath, '-r', '48000', '-c', '1', '-e', 'floating-point', '-b', '32', outPath])
  const x = readWav(outPath).data as Float32Array
  let s = 0
  for (const v of x) s += v * v
  const rms = Math.sqrt(s / Math.max(1, x.length)) || 1
  const k = 10 ** (rmsDb / 20) / rms
  const y = new Float32Array(x.length)
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * k
  return y
}

export interface MusicSpec {
  seconds: number
  seed: number
  programs: number[]
  soundfont?: string
  rmsDb?: number
}

/** Music rendered by fluidsynth from a MIDI written here. */
export async function renderMusic(dir: string, m: MusicSpec): Promise<Float32Array> {
  const { writeFileSync } = await import('node:fs')
  const tag = `m${m.seed}-${m.programs.join('_')}`
  const mid = join(dir, `${tag}.mid`)
  const raw = join(dir, `${tag}-raw.wav`)
  writeFileSync(mid, midiBytes(m.seconds, m.seed, m.programs))
  run('fluidsynth', ['-ni', '-q', '-g', '0.6', '-r', '48000', '-F', raw, '-T', 'wav', m.soundfont ?? SOUNDFONTS[0]!, mid])
  return to48kMono(raw, join(dir, `${tag}.wav`), m.rmsDb ?? -20)
}

/** Speech from flite (a voice name) or festival ('festival'). */
export async function renderSpeech(dir: string, text: string, voice: string, rmsDb = -20): Promise<Float32Array> {
  const { writeFileSync } = await import('node:fs')
  const tag = `s-${voice}-${text.length}`
  const raw = join(dir, `${tag}-raw.wav`)
  if (voice === 'festival') {
    const txt = join(dir, `${tag}.txt`)
    writeFileSync(txt, text)
    run('text2wave', ['-o', raw, txt])
  } else {
    run('flite', ['-voice', voice, '-t', text, '-o', raw])
  }
  return to48kMono(raw, join(dir, `${tag}.wav`), rmsDb)
}

export const TEXTS = [
  'Check one two, check one two. The monitors on stage left need a little more vocal, and the drummer asks for less guitar in his wedge.',
  'Ladies and gentlemen, welcome to the show tonight. Please silence your phones, keep the aisles clear, and enjoy the music.',
  'The quick brown fox jumps over the lazy dog while the sound engineer rings out the room before the doors open at seven.',
  'In the middle of the second act the lights go down, the orchestra holds a long chord, and the soloist steps forward to sing.',
]
