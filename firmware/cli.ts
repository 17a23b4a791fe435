// The `firmware` command line: subcommands dispatch to their modules.
import { FirmwareError } from './errors.ts'

const usage = `usage: firmware <command> [options]

commands:
  run --board sim|<profile> [--seconds N] [--panel-port PATH]
                                run the appliance (engine, watchdog, console, API)
  process --array FILE --in IN.wav --out OUT.wav --report REPORT.json
          [--steer AZ[,EL]] [--beamformer das|mvdr] [--block N]
                                offline processing of a recording (process --help)
  provision init|issue|reissue|revoke|list|export|server-cert [options]
                                the factory step: identity, operator CA, crew certificates,
                                console PIN, device key (provision help; docs/provisioning.md)
  fleet --url mqtts://HOST:PORT --ca FILE --cert FILE --key FILE [--site S] [--wait SECONDS]
                                the units a telemetry broker knows, from their retained topics
                                (docs/telemetry.md)
  help                          this text`

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(usage)
      return 0
    case 'run': {
      const { runCommand } = await import('./runtime/run.ts')
      const { applianceStack } = await import('./runtime/services.ts')
      return runCommand(rest, { services: [applianceStack()] })
    }
    case 'process': {
      const { runProcessCommand } = await import('./process/command.ts')
      return runProcessCommand(rest)
    }
    case 'provision': {
      const { main: provision } = await import('../provisioning/cli.ts')
      return provision(rest)
    }
    case 'fleet': {
      const { runFleetCommand } = await import('./telemetry/fleet.ts')
      return runFleetCommand(rest)
    }
    default:
      throw new FirmwareError('FW_ERR_USAGE', `unknown command "${cmd}"; try "firmware help"`)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    if (err instanceof FirmwareError) {
      console.error(`firmware: ${err.message} [${err.code}]`)
    } else {
      console.error(`firmware: internal error: ${err instanceof Error ? err.stack : String(err)}`)
    }
    process.exitCode = 1
  },
)
