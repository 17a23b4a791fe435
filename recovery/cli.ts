// The `recovery` command. Runs on its own (node recovery/cli.ts ...) and imports nothing from
// firmware/, so it works when the firmware it recovers does not.
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createBundle } from './bundle.ts'
import { loadRecoveryConfig } from './config.ts'
import { openRecoveryConsole, runRecoveryCommand } from './console.ts'
import { RecoveryError } from './errors.ts'
import { SlotManager } from './slots.ts'
import { supervise } from './supervise.ts'

const usage = `usage: recovery [--profile NAME|PATH] <command> [options]

commands:
  status | slots | rollback       as on the recovery console
  install BUNDLE                  verify a signed bundle and install it to the inactive slot
  factory-reset [--full] --yes    wipe presets and data (keeps the identity unless --full)
  boot                            count a boot of the active slot, rolling back after N failed
                                  ones; prints the slot directory (systemd ExecStartPre)
  confirm                         mark a pending slot good if the firmware reported healthy
  supervise                       start the firmware from the active slot, again and again,
                                  counting boots and rolling back
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

function takeFlag(args: string[], name: string): boolean {
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
      const need = (n: string): string => takeOpt(o, n) ?? (() => { throw new RecoveryError('REC_ERR_USAGE', `bundle create needs ${n}`) })()
      const imageDir = need('--image')
      // The version defaults to the one in the image's version manifest, which rides along.
      let image: Record<string, unknown> | undefined
      try {
        image = JSON.parse(readFileSync(join(imageDir, 'manifest.json'), 'utf8')) as Record<string, unknown>
      } catch { /* not a built image: --version is required */ }
      const version = takeOpt(o, '--version') ?? (typeof image?.version === 'string' ? image.version : need('--version'))
      const h = createBundle({ imageDir, board: need('--board'), version, privateKeyPath: need('--key'), out: need('--out'), ...(image ? { image } : {}) })
      console.log(`bundle ${h.manifest.version} for ${h.manifest.board}: ${h.files.length} files`)
      return 0
    }
    throw new RecoveryError('REC_ERR_USAGE', 'bundle needs "create" or "keygen"')
  }
  const mgr = new SlotManager(loadRecoveryConfig(profile))
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
    case 'factory-reset':
      for (const l of runRecoveryCommand(`factory-reset${rest.includes('--full') ? ' --full' : ''}${rest.includes('--yes') ? ' yes' : ''}`, mgr)) console.log(l)
      return 0
    case 'boot':
      console.log(mgr.boot().dir)
      return 0
    case 'confirm':
      console.log(mgr.confirm() ? 'confirmed' : 'not confirmed')
      return 0
    case 'supervise': {
      const ac = new AbortController()
      process.once('SIGTERM', () => ac.abort())
      process.once('SIGINT', () => ac.abort())
      await supervise(mgr, { signal: ac.signal })
      return 0
    }
    case 'console': {
      const port = await openRecoveryConsole(mgr, takeOpt(rest, '--port'))
      // Confirm health in the background too, so a unit running under plain systemd gets marked good.
      const timer = setInterval(() => { try { mgr.confirm() } catch { /* reported on the console */ } }, 5000)
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve)
        process.once('SIGINT', resolve)
        port.once('close', resolve)
      })
      clearInterval(timer)
      if (port.isOpen) port.close()
      return 0
    }
    default:
      throw new RecoveryError('REC_ERR_USAGE', `unknown command "${cmd}"; try "recovery help"`)
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (err: unknown) => {
    if (err instanceof RecoveryError) console.error(`recovery: ${err.message} [${err.code}]`)
    else console.error(`recovery: internal error: ${err instanceof Error ? err.stack : String(err)}`)
    process.exitCode = 1
  },
)
