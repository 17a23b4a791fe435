// Each command is defined once (house issue, item 2): the whole stack assembled as `firmware run`
// assembles it registers every name exactly once, the sources spell every command name once, and
// the one declared list of owned commands (firmware/commands/owned.ts) agrees with the real specs
// their owners register: same names, same summary and permission, and each gets its real spec
// when its owner runs. Without the owners, each answers FW_ERR_NOT_AVAILABLE naming the owner.

import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import type { Test } from 'tap'
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { builtinCommands, CommandRegistry, type CommandSpec, createRegistry, OWNED_COMMANDS, type Principal } from '../../firmware/commands/index.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'
import { FakeAppliance } from './fake-appliance.ts'

const root = resolve(import.meta.dirname, '..', '..')
const admin: Principal = { name: 'test:admin', permission: 'admin', transport: 'console' }

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

/** The whole stack of `firmware run` on the sim board, every register() call recorded. */
async function assembled(t: Test): Promise<{ registry: CommandRegistry; registered: string[] }> {
  const registered: string[] = []
  const original = CommandRegistry.prototype.register
  CommandRegistry.prototype.register = function (this: CommandRegistry, spec: CommandSpec<any>) {
    registered.push(spec.name)
    return original.call(this, spec)
  }
  let registry: CommandRegistry | null = null
  try {
    const run = await startAppliance(
      { ...loadProfile('sim'), dataDir: t.testdir() },
      {
        services: [
          applianceStack({
            log: () => {},
            onRegistry: (r) => {
              registry = r
            },
          }),
        ],
      },
    )
    t.teardown(() => run.stop())
  } finally {
    CommandRegistry.prototype.register = original
  }
  if (!registry) throw new Error('the stack never handed out its registry')
  return { registry, registered }
}

t.test('the whole stack of `firmware run`: every command name is registered once, and no owned one is left unavailable', async (t) => {
  const { registry, registered } = await assembled(t)
  const seen = new Map<string, number>()
  for (const n of registered) seen.set(n, (seen.get(n) ?? 0) + 1)
  t.same(
    [...seen].filter(([, k]) => k > 1),
    [],
    'no name registered twice',
  )
  t.ok(registered.length >= 40, `${registered.length} commands registered`)
  const left = registry
    .list({ transport: 'console' })
    .filter((s) => s.unavailable !== undefined)
    .map((s) => s.name)
  t.same(left, [], 'every declared owned command got its real spec')
  const builtins = new Set(builtinCommands().map((s) => s.name))
  const byOwners = registered.filter((n) => !builtins.has(n) && !registry.get(n)!.transports)
  t.same(byOwners.sort(), OWNED_COMMANDS.map((e) => e.name).sort(), 'the owners register exactly the declared names')
  const session = registry
    .list({ transport: 'console' })
    .filter((s) => s.transports)
    .map((s) => s.name)
  t.same(session, ['console', 'subscribe', 'unsubscribe', 'login', 'logout', 'history'], 'the console session commands are specs in the one registry')
  t.same(
    registry.list().filter((s) => s.transports),
    [],
    'the API and OSC do not list them',
  )
  t.match(
    await registry.executeLine('logout', { name: 'api:x', permission: 'admin', transport: 'api' }),
    { ok: false, code: 'FW_ERR_UNKNOWN_COMMAND' },
    'nor run them',
  )
  for (const e of OWNED_COMMANDS) {
    const s = registry.get(e.name)!
    t.equal(s.summary, e.summary, `${e.name}: help says the same with and without its owner`)
    t.equal(s.permission, e.permission, `${e.name}: the same permission`)
  }
})

t.test('the sources spell each command name once', async (t) => {
  const where = new Map<string, string[]>()
  for (const file of sources(join(root, 'firmware'))) {
    const text = readFileSync(file, 'utf8')
    t.notMatch(text, /name: `[^`]*`,\s*\n\s*summary\b/, `${relative(root, file)}: command names are literal, so this test sees them`)
    for (const m of text.matchAll(/name: '([a-z][a-z0-9 -]*)',\s*\n\s*summary:/g)) {
      const at = `${relative(root, file)}:${text.slice(0, m.index).split('\n').length}`
      where.set(m[1]!, [...(where.get(m[1]!) ?? []), at])
    }
  }
  t.ok(where.size >= 40, `${where.size} command names found`)
  for (const [name, at] of where) t.equal(at.length, 1, `"${name}" is defined at ${at.join(', ')}`)
  for (const e of OWNED_COMMANDS) t.ok(where.has(e.name), `${e.name}: its owner defines it`)
})

t.test('the declared list: names once, never a built-in', async (t) => {
  const names = OWNED_COMMANDS.map((e) => e.name)
  t.equal(new Set(names).size, names.length, 'no name declared twice')
  const builtins = new Set(builtinCommands().map((s) => s.name))
  t.same(
    names.filter((n) => builtins.has(n)),
    [],
    'no owned name is also a built-in',
  )
})

t.test('without their owners, owned commands are listed by help and answer FW_ERR_NOT_AVAILABLE naming the owner', async (t) => {
  const app = new FakeAppliance()
  const reg = createRegistry(app)
  const help = await reg.executeLine('help', admin)
  if (!help.ok) return t.fail(help.message)
  const rows = help.value as Array<{ command: string; unavailable?: string }>
  for (const e of OWNED_COMMANDS) {
    t.match(
      rows.find((r) => r.command === e.name),
      { unavailable: `${e.owner} is not running` },
      `help lists ${e.name} and says why`,
    )
    const r = await reg.executeLine(`${e.name} some=thing 1`, admin)
    t.same(
      r,
      { ok: false, command: e.name, code: 'FW_ERR_NOT_AVAILABLE', message: `${e.name} is not available yet: ${e.owner} is not running on this unit` },
      `${e.name} with any arguments`,
    )
  }
  t.same(app.calls, [], 'nothing changed on the appliance')
})
