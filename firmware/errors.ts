// One registry of coded errors. Every error a user can see carries a stable code from this table,
// so scripts, control systems and the docs (docs/errors.md) can rely on it. Add codes here, never
// inline; tests/errors.test.ts checks that each code is documented.

export const ERRORS = {
  FW_ERR_USAGE: 'bad command-line usage',
  FW_ERR_BAD_OPTION: 'an option is out of range or of the wrong type',
  FW_ERR_BAD_GEOMETRY: 'the array geometry is invalid',
  FW_ERR_BAD_WAV: 'the WAV file is corrupt or unsupported',
  FW_ERR_CHANNELS: 'the channel count does not match the array',
  FW_ERR_BOARD_PROFILE: 'the board profile is invalid',
  FW_ERR_UNKNOWN_DEVICE: 'the audio device or backend is unknown',
  FW_ERR_ENGINE: 'the audio engine reported an error',
  FW_ERR_IO: 'a file could not be read or written',
} as const

export type ErrorCode = keyof typeof ERRORS

export class FirmwareError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FirmwareError'
    this.code = code
  }
}

export function isFirmwareError(e: unknown): e is FirmwareError {
  return e instanceof FirmwareError
}
