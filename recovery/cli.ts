// The `recovery` command. Runs on its own (node recovery/cli.ts ...) and imports nothing from
// firmware/, so it works when the firmware it recovers does not.
import { generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createBundle } from './bundle.ts'
import { loadRecoveryConfig, repoRoot } from './config.ts'
import { openRecoveryConsole, runRecoveryCommand } from './console.ts'
import { RecoveryError } from './errors.ts'
import { SlotManager } from './slots.ts'
import { supervise } from './supervise.ts'

const usage = `usage: recovery [--profile NAME|PATH] <command> [options]

commands:
  status | slots | rollback       as on the recovery console
  install BUNDLE                  verify a signed bundle and install it to the inactive slot
  factory-reset [--full] --yes    wipe presets and data (keeps the identity unless --full);
                                  refused while the firmware runs
  start                           one boot: count it (rolling back after N failed ones), run the
                                  firmware from the active slot, mark a pending slot good once
                                  healthy, stop it if it is not healthy in time; exits with the
                                  firmware (the systemd unit's ExecStart)
  boot                            count a boot of the active slot, rolling back after N failed
                                  ones; prints the slot directory
  confirm                         observe the firmware's health report; mark a pending slot good
                                  once healthy long enough, else say why not
  supervise                       start, again and again, in one process
  console [--port PATH]           serve the recovery console on a serial port
  bundle create --image DIR --board NAME [--version X.Y.Z] --key PRIVATE.pem --out FILE
                                  (version defaults to the image's manifest.json)
  bundle keygen --out-dir DIR     a development Ed25519 key pair (the release key is kept
                                  by whoever signs releases; the unit holds its public half)

--profile defaults to $STAGE_BOARD or "sim".`

function takeOpt(args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  if (i < 0) return undefined
  const v = args[i + 1]
  if (v === undefined || v.startsWith('--')) throw new RecoveryError('REC_ERR_USAGE', `${name} needs a value`)
  args.splice(i, 2)
  return v
}

/** Boards a bundle may be made for: the image manifest's list, else the board profiles recovery knows. */
function knownBoards(image: Record<string, unknown> | undefined): string[] {
  if (Array.isArray(image?.boards) && image.boards.every((b) => typeof b === 'string')) return image.boards as string[]
  const dir = join(repoRoot, 'board')
  try {
    return readdirSync(dir)
      .filter((d) => existsSync(join(dir, d, 'profile.json')))
      .sort()
  } catch {
    return []
  }
}

function _takeFlag(args: string[], name: string): boolean {
  const i = args.indexOf(name)
  if (i < 0) return false
  args.splice(i, 1)
  return true
}

async function main(argv: string[]): Promise<number> {
  const args = [...argv]
  const profile = takeOpt(args, '--profile') ?? process.env.STAGE_BOARD ?? 'sim'
  const [cmd, ...rest] = args
  if (cmd === undefined || cmd === 'help' || cmd === '--help') {
    console.log(usage)
    return 0
  }
  if (cmd === 'bundle') {
    const [sub, ...o] = rest
    if (sub === 'keygen') {
      const dir = takeOpt(o, '--out-dir') ?? '.'
      const { publicKey, privateKey } = generateKeyPairSync('ed25519')
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'update-signing.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
      writeFileSync(join(dir, 'update-signing.pub'), publicKey.export({ type: 'spki', format: 'pem' }))
      console.log(`wrote ${join(dir, 'update-signing.pem')} (keep it off the device) and ${join(dir, 'update-signing.pub')}`)
      return 0
    }
    if (sub === 'create') {
      const need = (n: string): string =>
        takeOpt(o, n) ??
        (() => {
          throw new RecoveryError('REC_ERR_USAGE', `bundle create needs ${n}`)
        })()
      const imageDir = need('--image')
      // The version defaults to the one in the image's version manifest, which rides along.
      let image: Record<string, unknown> | undefined
      try {
        image = JSON.parse(readFileSync(join(imageDir, 'manifest.json'), 'utf8')) as Record<string, unknown>
      } catch {
        /* not a built image: --version is required */
      }
      const given = takeOpt(o, '--version')
      const imageVersion = typeof image?.version === 'string' ? image.version : undefined
      // The firmware reports its manifest's version; a bundle named otherwise could never be confirmed.
      if (given !== undefined && imageVersion !== undefined && given !== imageVersion) {
        throw new RecoveryError(
          'REC_ERR_USAGE',
          `--version ${given} does not match the image: its manifest.json says ${imageVersion}; rebuild the image with --version ${given}, or leave --version out`,
        )
      }
      const version = given ?? imageVersion ?? need('--version')
      const board = need('--board')
      const boards = knownBoards(image)
      if (!boards.includes(board)) {
        throw new RecoveryError('REC_ERR_USAGE', `board "${board}" is not one this image supports (${boards.join(', ')})`)
      }
      const h = createBundle({ imageDir, board, version, privateKeyPath: need('--key'), out: need('--out'), ...(image ? { image } : {}) })
      console.log(`bundle ${h.manifest.version} for ${h.manifest.board}: ${h.files.length} files`)
      return 0
    }
    throw new RecoveryError('REC_ERR_USAGE', 'bundle needs "create" or "keygen"')
  }
  // Commands whose reply is their output print once (stdout); the others log events on stderr
  // (the journal, under systemd).
  const quiet = ['status', 'slots', 'rollback', 'install', 'factory-reset'].includes(cmd)
  const mgr = new SlotManager(loadRecoveryConfig(profile), quiet ? { log: () => {} } : {})
  switch (cmd) {
    case 'status':
    case 'slots':
    case 'rollback':
      for (const l of runRecoveryCommand(cmd, mgr)) console.log(l)
      return 0
    case 'install':
      if (!rest[0]) throw new RecoveryError('REC_ERR_USAGE', 'install needs a bundle path')
      for (const l of runRecoveryCommand(`install ${rest[0]}`, mgr)) console.log(l)
      return 0
    case 'factory-reset': {
      const full = rest.includes('--full')
      if (!rest.includes('--yes')) {
        throw new RecoveryError(
          'REC_ERR_USAGE',
          `this wipes presets and data${full ? ' AND the identity' : ' (the identity is kept)'}; run "recovery factory-reset${full ? ' --full' : ''} --yes" to go ahead`,
        )
      }
      for (const l of runRecoveryCommand(`factory-reset${full ? ' --full' : ''} yes`, mgr)) console.log(l)
      return 0
    }
    case 'boot':
      console.log(mgr.boot().dir)
      return 0
    case 'confirm': {
      const c = mgr.confirm()
      console.log(c.confirmed ? `confirmed: ${c.reason}` : `not confirmed: ${c.reason}`)
      return 0
    }
    case 'start': {
      // systemd stops the unit with SIGTERM to this process: pass it on and exit with the firmware.
      const ac = new AbortController()
      process.once('SIGTERM', () => ac.abort())
      process.once('SIGINT', () => ac.abort())
      const log = (m: string): void => {
        process.stderr.write(`recovery: ${m}\n`)
      }
      const r = await supervise(mgr, {
        once: true,
        signal: ac.signal,
        onWaiting: log,
        onEvent: (ev) => {
          if (ev.type === 'boot') log(`starting slot ${ev.decision.slot} (${ev.decision.version}, ${ev.decision.state})`)
        },
      })
      if (ac.signal.aborted) return 0
      return r.timedOut ? 1 : (r.code ?? 1)
    }
    case 'supervise': {
      const ac = new AbortController()
      process.once('SIGTERM', () => ac.abort())
      process.once('SIGINT', () => ac.abort())
      await supervise(mgr, { signal: ac.signal })
      return 0
    }
    case 'console': {
      // Health is confirmed on the boot path (recovery start), not here: the console may not open.
      const port = await openRecoveryConsole(mgr, takeOpt(rest, '--port'))
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve)
        process.once('SIGINT', resolve)
        port.once('close', resolve)
      })
      if (port.isOpen) port.close()
      return 0
    }
    default:
      throw new RecoveryError('REC_ERR_USAGE', `unknown command "${cmd}"; try "recovery help"`)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    if (err instanceof RecoveryError) console.error(`recovery: ${err.message} [${err.code}]`)
    else console.error(`recovery: internal error: ${err instanceof Error ? err.stack : String(err)}`)
    process.exitCode = 1
  },
)
