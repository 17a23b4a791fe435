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
  FW_ERR_AES67_STATIC: 'a stream of the board profile cannot be removed at run time: change the profile (the unit’s fixed wiring) and restart at a safe moment',
  FW_ERR_AES67_STREAM:
    'an AES67 stream cannot be added or removed now: no free slot, port in use, a duplicate name, inputs taken by another stream, or no such stream',
  FW_ERR_AES67_SDP: 'an SDP or SAP description of an AES67 stream is malformed or describes a stream this unit cannot take (L16/L24, 48 kHz, 1-8 channels)',
  FW_ERR_ENGINE: 'the audio engine reported an error',
  FW_ERR_IO: 'a file could not be read or written',
  FW_ERR_INTERRUPTED: 'the operation was interrupted (Ctrl-C or a stop signal); nothing was written',
  FW_ERR_IDENTITY_EXISTS: 'the device is already provisioned (use --force to replace the identity)',
  FW_ERR_NOT_PROVISIONED: 'the device has no identity or keys yet; run provisioning',
  FW_ERR_SECRET: 'a secret at rest is missing, unreadable, too widely readable or does not decrypt',
  FW_ERR_OPENSSL: 'the openssl command failed while creating or revoking certificates',
  FW_ERR_API_BAD_REQUEST: 'an API request body or parameter is malformed, of the wrong type or out of range',
  FW_ERR_API_TOO_LARGE: 'an API request body is larger than the limit',
  FW_ERR_API_FORBIDDEN: 'the role in the client certificate may not do this (observers are read-only)',
  FW_ERR_API_NOT_FOUND: 'no such API resource',
  FW_ERR_API_METHOD: 'the API resource exists but does not answer this HTTP method (see the Allow header)',
  FW_ERR_API_RATE_LIMITED: 'too many API requests from this client; slow down',
  FW_ERR_API_UNAUTHORIZED: 'the client certificate is missing, untrusted, expired or revoked',
  FW_ERR_OSC: 'an OSC message was malformed, from a disallowed address or for an unknown address',
  FW_ERR_FLEET_REFUSED: 'a fleet command was refused: bad certificate, signature or freshness, or never allowed from the fleet',
  FW_ERR_UNKNOWN_COMMAND: 'no such command; type help for the list',
  FW_ERR_BAD_ARG: 'a command argument is missing, unknown, of the wrong type or out of range',
  FW_ERR_PERMISSION: 'this principal may not run the command (observe < operate < admin; on the console, log in with the PIN)',
  FW_ERR_CONFIRM_REQUIRED: 'a destructive command needs the one-time confirm token it was just given',
  FW_ERR_NOT_AVAILABLE: 'the subsystem behind this command is not available (yet) on this unit',
  FW_ERR_COMMAND_FAILED: 'a command was valid but failed or timed out while running',
  FW_ERR_LINE_TOO_LONG: 'a console line was longer than 512 bytes and was discarded',
  FW_ERR_BAD_INPUT: 'a console line held binary bytes, NULs or escape sequences (wrong baud rate?) and was discarded',
  FW_ERR_RATE_LIMITED: 'too many console lines per second; lines were dropped, slow down',
  FW_ERR_PIN: 'the console PIN is wrong, locked out after failures, or its file is unreadable',
  FW_ERR_CONSOLE: 'the console serial port could not be opened or set up',
  FW_ERR_STORE_CORRUPT: 'a stored config or preset and its last-known-good copy are both unreadable',
  FW_ERR_STORE_SCHEMA: 'stored data has a schema version newer than this firmware understands',
  FW_ERR_PRESET_NOT_FOUND: 'no preset by that name',
  FW_ERR_PRESET_NAME: 'a preset name must be 1-32 letters, digits, "-" or "_"',
  FW_ERR_MODEL: 'a model was refused (missing or corrupt file, sha256 or input/output shapes not as its manifest says); the previous model stays active',
  FW_ERR_LABELS: 'a label track (Audacity: start TAB end TAB label) has a bad line; the message names the file and the line, nothing was imported',
  FW_ERR_INFERENCE: 'the inference process (offline: the inference thread) is not running or did not answer in time',
  FW_ERR_FEEDBACK_SETTINGS:
    'a feedback suppressor setting (notch count, Q, depth, release, frequency shift, loop gain or room) is out of range; nothing was changed',
  FW_ERR_AUTOMATION: 'no such recommendation to accept or reject, or the automation mode does not allow it',
  FW_ERR_BUSY: 'the firmware is already running on this board (one instance per data directory)',
  FW_ERR_REHEARSAL_REFUSED:
    'a rehearsal was refused: the unit is not ACTIVE (e.g. a person latched manual bypass), another rehearsal is running, or the fault would latch the escalation; nothing was injected',
  FW_ERR_PRIVACY: 'audio may not be stored or sent: the recording consent setting is off, or a snippet expired or does not decrypt',
  FW_ERR_MIX_PROFILE: 'a mix profile was refused (a field out of range, an unknown source, a bad name); nothing changed',
  FW_ERR_MIX_STREAM: 'a mix could not be published or streamed: no such profile, no ingest for it, or the streamer failed; nothing changed',
  FW_ERR_TRACKING:
    'source tracking cannot run on this unit (its engine has no array, or its DOA runs on the audio thread), or a mix names a track that does not exist; nothing changed',
  FW_ERR_STEMS:
    'the --stems folder cannot take the stems (it is a file, a path the run reads or writes, cannot be created or is not writable), the part is too long to hold, or stems were asked for without an array; nothing was written',
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
