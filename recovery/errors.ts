// Recovery's own coded errors. Recovery must not depend on the firmware it recovers, so it does
// not share firmware/errors.ts; the codes are documented in docs/recovery.md.

export const RECOVERY_ERRORS = {
  REC_ERR_USAGE: 'bad recovery command-line usage',
  REC_ERR_CONFIG: 'the recovery section of the board profile is missing or invalid',
  REC_ERR_BUNDLE_FORMAT: 'the file is not an update bundle, or its header is malformed',
  REC_ERR_BUNDLE_TRUNCATED: 'the update bundle is shorter than its header says (incomplete copy or download)',
  REC_ERR_BUNDLE_UNSIGNED: 'the update bundle carries no signature',
  REC_ERR_BUNDLE_SIGNATURE: 'the update bundle signature does not verify with the update key (tampered, or signed with another key)',
  REC_ERR_BUNDLE_TAMPERED: 'a file in the update bundle does not match its signed hash, or data was appended',
  REC_ERR_BUNDLE_BOARD: 'the update bundle is built for a different board',
  REC_ERR_BUNDLE_DOWNGRADE: 'the update bundle is not newer than the installed firmware',
  REC_ERR_KEY: 'the update signing or verification key is missing or not an Ed25519 key',
  REC_ERR_SLOT: 'the requested slot operation is not possible (e.g. no good slot to roll back to)',
  REC_ERR_AUTH: 'this console command needs "login PIN" first (the console PIN set at provisioning)',
  REC_ERR_BUSY: 'another recovery operation or the running firmware holds what this one needs (an install in progress, the firmware lock)',
  REC_ERR_IO: 'a file could not be read or written',
  REC_ERR_LINE_TOO_LONG: 'a recovery console line is longer than 512 bytes; it is ignored up to its end',
  REC_ERR_BAD_INPUT: 'a recovery console line held control bytes (NUL, escape sequences, a wrong baud rate); nothing was done',
} as const

export type RecoveryErrorCode = keyof typeof RECOVERY_ERRORS

export class RecoveryError extends Error {
  readonly code: RecoveryErrorCode
  constructor(code: RecoveryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'RecoveryError'
    this.code = code
  }
}
