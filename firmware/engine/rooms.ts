// The simulated rooms of the feedback loops: a shoebox with a loudspeaker and a microphone in it
// (addons/src/dsp/room_ir.h builds its image-source response). Named rooms for `--room` and for
// the sim board's loop (`audio.sim.loop.room`), or "LxWxH:absorption"; checked here once for both.
import { type ErrorCode, FirmwareError } from '../errors.ts'
import { checker, numberIn, wholeNumberIn } from '../validate.ts'

export interface RoomSpec {
  /** Room size, metres [x, y, z]. */
  size: [number, number, number]
  /** Wall absorption (energy), 0.05 to 0.95. */
  absorption: number
  speaker: [number, number, number]
  mic: [number, number, number]
  /** Image order, 1 to 12. Defaults to 8. */
  order?: number
}

/** Named rooms for --room; or "LxWxH:absorption". */
export const ROOMS: Record<string, RoomSpec> = {
  small: { size: [5, 4, 2.8], absorption: 0.3, speaker: [1.2, 2, 1.8], mic: [3.6, 2.3, 1.5] },
  club: { size: [12, 9, 4], absorption: 0.35, speaker: [2, 4.5, 2.5], mic: [6, 4.2, 1.6] },
  hall: { size: [25, 18, 9], absorption: 0.25, speaker: [3, 9, 4], mic: [8, 8.5, 1.7] },
  studio: { size: [7, 5, 3], absorption: 0.6, speaker: [1.5, 2.5, 1.6], mic: [4.5, 2.6, 1.5] },
}

/** Parses --room: a name from ROOMS or "LxWxH:absorption" (speaker and mic placed in proportion). */
export function parseRoom(spec: string, where = '--room', code: ErrorCode = 'FW_ERR_FEEDBACK_SETTINGS'): RoomSpec {
  const named = ROOMS[spec]
  if (named) return named
  const m = /^(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?):(\d*\.?\d+)$/.exec(spec)
  if (!m) {
    throw new FirmwareError(
      code,
      `${where}: must be one of ${Object.keys(ROOMS).join(', ')} or LxWxH:absorption (e.g. 8x6x3:0.35), got ${JSON.stringify(spec)}`,
    )
  }
  const c = checker(code, (f, msg) => `${where}: ${f} ${msg}`)
  const [x, y, z] = [1, 2, 3].map((i, k) => numberIn(c, Number(m[i]), ['length', 'width', 'height'][k]!, { min: 2, max: 60 })) as [number, number, number]
  const absorption = numberIn(c, Number(m[4]), 'absorption', { min: 0.05, max: 0.95 })
  return { size: [x, y, z], absorption, speaker: [0.2 * x, 0.5 * y, 0.6 * z], mic: [0.55 * x, 0.55 * y, Math.min(1.6, 0.5 * z)] }
}

/** Refuses a room that is not a shoebox with both ends inside it (`code`, the message naming `where`). */
export function checkRoom(room: RoomSpec, where: string, code: ErrorCode = 'FW_ERR_FEEDBACK_SETTINGS'): void {
  const c = checker(code, (f, m) => `${where}: ${f} ${m}`)
  if (typeof room !== 'object' || room === null) throw new FirmwareError(code, `${where}: room must be a room name or { size, absorption, speaker, mic }`)
  numberIn(c, room.absorption, 'absorption', { min: 0.05, max: 0.95 })
  if (room.order !== undefined) wholeNumberIn(c, room.order, 'order', 1, 12)
  for (const k of ['size', 'speaker', 'mic'] as const) {
    const v = room[k]
    if (!Array.isArray(v) || v.length !== 3) throw new FirmwareError(code, `${where}: ${k} must be [x, y, z] in metres`)
    for (const [i, n] of v.entries()) numberIn(c, n, `${k}[${i}]`, { min: 0, max: 100 })
  }
  for (const k of ['speaker', 'mic'] as const)
    room[k].forEach((n, i) => {
      if (n >= room.size[i]!) throw new FirmwareError(code, `${where}: ${k}[${i}] ${n} is outside the room (${room.size[i]} m)`)
    })
}
