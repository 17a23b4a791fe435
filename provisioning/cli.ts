// The provisioning command line (the factory step). See docs/provisioning.md.
//   node provisioning/cli.ts init    --data-dir DIR [--force] [--board NAME] [--host NAME]... [--ip ADDR]...
//   node provisioning/cli.ts server-cert --data-dir DIR [--host NAME]... [--ip ADDR]...
//   node provisioning/cli.ts issue   --data-dir DIR --name NAME --role operator|observer [--days N] [--out DIR]
//   node provisioning/cli.ts reissue --data-dir DIR --name NAME [--days N] [--out DIR]
//   node provisioning/cli.ts revoke  --data-dir DIR (--serial HEX | --name NAME)
//   node provisioning/cli.ts export  --data-dir DIR (--name NAME | --serial HEX) --out DIR
//   node provisioning/cli.ts list    --data-dir DIR
import { parseArgs } from 'node:util'
import { loadProfile } from '../firmware/board/profile.ts'
import { FirmwareError } from '../firmware/errors.ts'
import {
  type Bundle,
  exportBundle,
  issueClient,
  listIssued,
  provision,
  type Role,
  reissueClient,
  reissueServerCert,
  revokeClient,
  type ServerNames,
} from './provision.ts'

const usage = `usage: firmware provision <command> [options]   (from the repo: npx firmware provision ...)

commands:
  init    --data-dir DIR [--force] [--out DIR] [--host NAME]... [--ip ADDR]...
                                          create the device identity, operator CA, first operator and
                                          observer bundles, console PIN and device key; the server
                                          certificate names localhost, this host's name and .local
                                          name, every address of its interfaces, and --host/--ip;
                                          bundles go to --out DIR (removable media), or are held
                                          sealed on the unit until "export"
  server-cert --data-dir DIR [--host NAME]... [--ip ADDR]...
                                          reissue the server certificate for the unit's current
                                          names and addresses (after a network change); the CA and
                                          the crew's certificates stay as they are
  issue   --data-dir DIR --name NAME --role operator|observer|admin [--days N]
          [--not-before ISO --not-after ISO] [--out DIR]
                                          issue a client certificate bundle for a crew member
                                          (to --out DIR, or held sealed until "export")
  export  --data-dir DIR (--name NAME | --serial HEX) --out DIR
                                          hand a held bundle out, once: writes it to DIR and
                                          removes it from the unit
  reissue --data-dir DIR --name NAME [--days N] [--out DIR]
                                          issue a new bundle for NAME and revoke the old one(s)
  revoke  --data-dir DIR (--serial HEX | --name NAME)
                                          revoke certificates; the API refuses them from then on
  list    --data-dir DIR                  list issued certificates

--data-dir defaults to the data directory of --board (default "sim").`

function bundleText(b: Bundle, dataDir: string): string {
  const whom =
    b.role === 'operator' ? 'operator (read and change the sound)' : b.role === 'admin' ? 'system tech (admin: also reboot and reset)' : 'observer (read-only)'
  if (b.sealed) {
    return [
      `  ${b.role} "${b.name}" (certificate serial ${b.serial}, valid until ${b.notAfter})`,
      `    for the ${whom}: held on the unit with its key sealed; hand it out once with`,
      `      firmware provision export --data-dir ${dataDir} --serial ${b.serial} --out <removable media>`,
    ].join('\n')
  }
  return [
    `  ${b.role} "${b.name}" (certificate serial ${b.serial}, valid until ${b.notAfter})`,
    `    hand to the ${whom}:`,
    `      ${b.p12File}   PKCS#12 for browsers/tablets; one-time password: ${b.p12Password}`,
    `      ${b.certFile} + ${b.keyFile} + ${b.caFile}   PEM for curl and scripts`,
  ].join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    console.log(usage)
    return cmd === undefined ? 2 : 0
  }
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    values = parseArgs({
      args: rest,
      options: {
        'data-dir': { type: 'string' },
        board: { type: 'string' },
        force: { type: 'boolean' },
        name: { type: 'string' },
        role: { type: 'string' },
        days: { type: 'string' },
        out: { type: 'string' },
        serial: { type: 'string' },
        'not-before': { type: 'string' },
        'not-after': { type: 'string' },
        host: { type: 'string', multiple: true },
        ip: { type: 'string', multiple: true },
      },
      strict: true,
    }).values
  } catch (e) {
    throw new FirmwareError('FW_ERR_USAGE', `${(e as Error).message}; try "firmware provision help"`)
  }
  const dataDir = (values['data-dir'] as string | undefined) ?? loadProfile((values.board as string | undefined) ?? 'sim').dataDir
  const days = values.days === undefined ? undefined : Number(values.days)
  if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 3650))
    throw new FirmwareError('FW_ERR_USAGE', `--days must be a whole number from 1 to 3650, got ${values.days}`)
  const date = (k: 'not-before' | 'not-after'): Date | undefined => {
    const v = values[k] as string | undefined
    if (v === undefined) return undefined
    const d = new Date(v)
    if (Number.isNaN(d.getTime())) throw new FirmwareError('FW_ERR_USAGE', `--${k} must be an ISO date such as 2026-01-31, got ${v}`)
    return d
  }
  const names = { hosts: (values.host as string[] | undefined) ?? [], ips: (values.ip as string[] | undefined) ?? [] }
  const namesText = (n: ServerNames): string => `  names: ${n.dns.join(', ')}\n  addresses: ${n.ip.join(', ')}`
  switch (cmd) {
    case 'server-cert': {
      const r = reissueServerCert(dataDir, names)
      console.log(`new server certificate ${r.serial} (valid until ${r.notAfter}); the CA and the crew's certificates are unchanged`)
      console.log(namesText(r.names))
      console.log('a running API uses it within a second or two; clients keep their ca.crt')
      return 0
    }
    case 'init': {
      const r = await provision({ dataDir, force: values.force === true, ...names, ...(values.out ? { bundlesOut: values.out as string } : {}) })
      console.log(`provisioned device ${r.serial} in ${r.dataDir}`)
      console.log(`\nconsole PIN (shown once; only its hash is stored): ${r.pin}`)
      console.log(`  hand to the stage tech who uses the serial console.`)
      console.log(`\noperator CA certificate (public; clients use it to verify the device): ${r.caFile}`)
      console.log(`the server certificate answers to (reissue after a network change: "server-cert"):\n${namesText(r.serverNames)}`)
      console.log(
        values.out
          ? `\nclient bundles, written to ${values.out as string} only (each holds a private key: hand over in person; no copy stays on the unit):`
          : `\nclient bundles (held on the unit, keys sealed, until handed out once with "export"):`,
      )
      for (const b of r.bundles) console.log(bundleText(b, dataDir))
      console.log(`\nkept on the device (mode 0600, private keys sealed with AES-256-GCM under ${dataDir}/device.key; no plaintext private key).`)
      return 0
    }
    case 'issue': {
      if (!values.name || !values.role) throw new FirmwareError('FW_ERR_USAGE', 'issue needs --name NAME and --role operator|observer')
      const opts: Parameters<typeof issueClient>[1] = { name: values.name as string, role: values.role as Role }
      if (days !== undefined) opts.days = days
      const nb = date('not-before')
      if (nb) opts.notBefore = nb
      const na = date('not-after')
      if (na) opts.notAfter = na
      if (values.out) opts.outDir = values.out as string
      const b = issueClient(dataDir, opts)
      console.log(`issued:\n${bundleText(b, dataDir)}`)
      return 0
    }
    case 'reissue': {
      if (!values.name) throw new FirmwareError('FW_ERR_USAGE', 'reissue needs --name NAME')
      const o: { days?: number; outDir?: string } = {}
      if (days !== undefined) o.days = days
      if (values.out) o.outDir = values.out as string
      const { bundle, revoked } = reissueClient(dataDir, values.name as string, o)
      console.log(`issued:\n${bundleText(bundle, dataDir)}`)
      for (const c of revoked) console.log(`revoked old certificate ${c.serial} (${c.role} "${c.name}")`)
      return 0
    }
    case 'revoke': {
      if (!values.serial === !values.name) throw new FirmwareError('FW_ERR_USAGE', 'revoke needs exactly one of --serial HEX or --name NAME')
      const by: { serial?: string; name?: string } = {}
      if (values.serial) by.serial = values.serial as string
      if (values.name) by.name = values.name as string
      for (const c of revokeClient(dataDir, by)) console.log(`revoked ${c.serial} (${c.role} "${c.name}"); the API refuses it from now on`)
      return 0
    }
    case 'export': {
      if (!values.serial === !values.name) throw new FirmwareError('FW_ERR_USAGE', 'export needs exactly one of --serial HEX or --name NAME')
      if (!values.out) throw new FirmwareError('FW_ERR_USAGE', "export needs --out DIR (removable media or the operator's machine)")
      const by: { serial?: string; name?: string } = {}
      if (values.serial) by.serial = values.serial as string
      if (values.name) by.name = values.name as string
      for (const b of exportBundle(dataDir, by, values.out as string)) console.log(`handed out (removed from the unit):\n${bundleText(b, dataDir)}`)
      return 0
    }
    case 'list': {
      console.log('serial                            role        status   valid until            name')
      for (const c of listIssued(dataDir)) {
        console.log(`${c.serial.padEnd(33)} ${c.role.padEnd(11)} ${c.status.padEnd(8)} ${c.notAfter.padEnd(22)} ${c.name}`)
      }
      return 0
    }
    default:
      throw new FirmwareError('FW_ERR_USAGE', `unknown command "${cmd}"; try "firmware provision help"`)
  }
}

// Run directly (node provisioning/cli.ts ...) or through `firmware provision ...`.
if (import.meta.main)
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      if (err instanceof FirmwareError) console.error(`provisioning: ${err.message} [${err.code}]`)
      else console.error(`provisioning: internal error: ${err instanceof Error ? err.message : String(err)}`)
      process.exitCode = 1
    },
  )
