// Every command, the way a user would try it, on the whole stack of `firmware run` on the sim board
// (house issue, item 2): each spec's examples parse and run; each argument refuses what is outside
// its bounds with FW_ERR_BAD_ARG and changes nothing, and takes its bounds exactly; each command
// refuses a caller one permission level short with FW_ERR_PERMISSION and changes nothing.
import t from 'tap'
import { loadProfile } from '../../firmware/board/profile.ts'
import { type ArgSpec, type Bound, type CommandRegistry, type Permission, type Principal, parseTokens } from '../../firmware/commands/index.ts'
import { DEFAULT_STRING_RE } from '../../firmware/commands/registry.ts'
import type { ApplianceApi } from '../../firmware/contract/appliance.ts'
import { isFirmwareError } from '../../firmware/errors.ts'
import { applianceStack } from '../../firmware/runtime/services.ts'
import { startAppliance } from '../../firmware/runtime/start.ts'

const as = (permission: Permission): Principal => ({ name: `test:${permission}`, permission, transport: 'test' })
const admin = as('admin')

// The sim board, ports 0 (the API stays off: the unit is not provisioned; OSC binds an ephemeral port when turned on).
const base = loadProfile('sim')
let registry: CommandRegistry | null = null
const run = await startAppliance(
  { ...base, dataDir: t.testdir(), api: { ...base.api, port: 0, oscPort: 0 } },
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
const reg: CommandRegistry = registry!
const app: ApplianceApi = run.app
const specs = reg.list()

const bound = (b: Bound | undefined): number | undefined => (typeof b === 'function' ? b(app) : b)

/** Everything a command could change, read through the registry as a user reads it. */
async function snapshot(): Promise<string> {
  const out: unknown[] = []
  for (const line of ['output show', 'input show', 'beam list', 'mode', 'preset list', 'preset boot', 'osc show', 'model list', 'recommendations']) {
    const r = await reg.executeLine(line, admin)
    out.push(r.ok ? r.value : r.code)
  }
  const s = app.status()
  out.push(s.state === 'MANUAL_BYPASS', s.automationMode)
  return JSON.stringify(out)
}

/** A value the argument accepts: its lower bound, first value, "on", or a short name. */
function good(a: ArgSpec): string {
  switch (a.type) {
    case 'int':
    case 'number':
      return String(bound(a.min) ?? 1)
    case 'enum':
      return a.values![0]!
    case 'bool':
      return 'on'
    case 'string':
      return 'abc'
  }
}

/** What a user might mistype for the argument, each of which it must refuse. */
function bad(a: ArgSpec): string[] {
  const lo = bound(a.min)
  const hi = bound(a.max)
  const step = a.type === 'int' ? 1 : 0.001
  switch (a.type) {
    case 'int':
    case 'number':
      return [
        ...(lo !== undefined ? [String(lo - step)] : []),
        ...(hi !== undefined ? [String(hi + step)] : []),
        ...(a.type === 'int' ? [String((lo ?? 0) + 0.5)] : []),
        'x',
        '1e3',
        'NaN',
        '',
      ]
    case 'enum':
      return ['bogus', '']
    case 'bool':
      return ['maybe', '2', '']
    case 'string': {
      // A character the argument's own rule refuses (a description may allow "!", no rule allows "<").
      const refused = ['bad!name', 'bad<name>', 'bad\u0007name'].filter((v) => !(a.pattern ?? DEFAULT_STRING_RE).test(v))
      return ['a'.repeat((a.maxLength ?? 64) + 1), ...refused.slice(0, 1), '']
    }
  }
}

t.test('the stack has the commands to test', async (t) => {
  t.ok(specs.length >= 39, `${specs.length} commands`)
})

t.test("every spec's examples parse, and run against the sim unit without a usage or internal error", async (t) => {
  for (const s of specs) {
    for (const ex of s.examples) {
      const r = await reg.executeLine(ex, admin)
      const said = r.ok ? 'OK' : `${r.code} ${r.message}`
      t.equal(r.command, s.name, `${ex}: resolves to ${s.name}`)
      // A part this board has no hardware for (AES67 on the plain sim board) says so, naming the
      // board profile field that would give it; any other "not available" is a failure.
      const noHardware = !r.ok && r.code === 'FW_ERR_NOT_AVAILABLE' && /board profile/.test(r.message)
      t.notOk(
        !r.ok &&
          !noHardware &&
          ['FW_ERR_BAD_ARG', 'FW_ERR_UNKNOWN_COMMAND', 'FW_ERR_PERMISSION', 'FW_ERR_COMMAND_FAILED', 'FW_ERR_NOT_AVAILABLE'].includes(r.code),
        `${ex}: ${said}`,
      )
      if (s.destructive)
        t.match(r, { ok: false, code: 'FW_ERR_CONFIRM_REQUIRED' }, `${ex}: destructive, so it asks for a confirm token first (not carried out here)`)
    }
  }
  await reg.executeLine('bypass off', admin)
})

t.test('every argument refuses what is outside its rule with FW_ERR_BAD_ARG naming it, and nothing changes', async (t) => {
  const before = await snapshot()
  let tried = 0
  for (const s of specs) {
    if (s.ownParsing) continue
    // The other required arguments take the value the spec's own examples give them (an argument
    // with a pattern, such as a broker URL, refuses the generic good value), else a generic one.
    const fromExample = (a: ArgSpec) => {
      for (const ex of s.examples) {
        const tok = ex.split(/\s+/).find((w) => w.startsWith(`${a.name}=`))
        if (tok) return tok.slice(a.name.length + 1)
      }
      return undefined
    }
    const others = (skip: string) => s.args.filter((a) => a.name !== skip && !a.optional).map((a) => `${a.name}=${fromExample(a) ?? good(a)}`)
    for (const a of s.args) {
      for (const v of bad(a)) {
        const line = [s.name, ...others(a.name), `${a.name}=${v}`].join(' ')
        const r = await reg.executeLine(line, admin)
        tried++
        if (r.ok) t.fail(`${line}: accepted`)
        else {
          t.equal(r.code, 'FW_ERR_BAD_ARG', `${line}: ${r.message}`)
          t.match(r.message, new RegExp(`^${s.name}: ${a.name} must be `), `${line}: names the argument and its rule`)
        }
      }
    }
    const needed = s.args.filter((a) => !a.optional)
    for (const a of needed) {
      const r = await reg.executeLine([s.name, ...others(a.name)].join(' '), admin)
      t.match(r, { ok: false, code: 'FW_ERR_BAD_ARG', message: new RegExp(`${a.name} is missing`) }, `${s.name} without ${a.name}`)
    }
    t.match(
      await reg.executeLine([s.name, ...others(''), 'nosuch=1'].join(' '), admin),
      { ok: false, code: 'FW_ERR_BAD_ARG', message: /no argument "nosuch"/ },
      `${s.name}: an unknown key`,
    )
    const positional = [s.name, ...s.args.map(good), 'extra'].join(' ')
    t.match(await reg.executeLine(positional, admin), { ok: false, code: 'FW_ERR_BAD_ARG', message: /too many arguments/ }, `${positional}: one word too many`)
    // The API's JSON: a value of the wrong JSON type
    for (const a of s.args) {
      const body: Record<string, unknown> = Object.fromEntries(
        s.args
          .filter((x) => !x.optional && x !== a)
          .map((x) => [x.name, x.type === 'bool' ? true : x.type === 'int' || x.type === 'number' ? Number(good(x)) : good(x)]),
      )
      body[a.name] = a.type === 'string' || a.type === 'enum' ? 7 : 'x'
      const r = await reg.execute(s.name, body, { ...admin, transport: 'api' })
      t.match(r, { ok: false, code: 'FW_ERR_BAD_ARG' }, `${s.name} ${JSON.stringify(body)} (JSON)`)
    }
  }
  t.ok(tried > 100, `${tried} bad values tried`)
  t.equal(await snapshot(), before, 'nothing changed on the unit')
})

t.test('numeric bounds and name lengths are taken exactly at the edges', async (t) => {
  for (const s of specs) {
    // The other required arguments take the value the spec's own examples give them (an argument
    // with a pattern, such as a broker URL, refuses the generic good value), else a generic one.
    const fromExample = (a: ArgSpec) => {
      for (const ex of s.examples) {
        const tok = ex.split(/\s+/).find((w) => w.startsWith(`${a.name}=`))
        if (tok) return tok.slice(a.name.length + 1)
      }
      return undefined
    }
    const others = (skip: string) => s.args.filter((a) => a.name !== skip && !a.optional).map((a) => `${a.name}=${fromExample(a) ?? good(a)}`)
    for (const a of s.args) {
      const edges: string[] = []
      if (a.type === 'int' || a.type === 'number') {
        for (const b of [bound(a.min), bound(a.max)]) if (b !== undefined) edges.push(String(b))
      } else if (a.type === 'string') {
        // A string with a shape of its own (a URL, an absolute path) is taken at its example; its
        // length bound is checked by the refusals above.
        const ex = fromExample(a)
        if (a.pattern && !a.pattern.test('a')) {
          if (ex !== undefined) edges.push(ex)
        } else edges.push('a'.repeat(a.maxLength ?? 64), 'a')
      }
      for (const v of edges) {
        let err = ''
        try {
          parseTokens(s, [...others(a.name), `${a.name}=${v}`], app)
        } catch (e) {
          err = isFirmwareError(e) ? `${e.code} ${e.message}` : String(e)
        }
        t.equal(err, '', `${s.name} ${a.name}=${v.length > 12 ? `<${v.length} characters>` : v} is accepted`)
      }
    }
  }
})

t.test('each permission level is enforced: a caller one level short is refused, and nothing changes', async (t) => {
  const before = await snapshot()
  const below: Record<Permission, Permission | null> = { observe: null, operate: 'observe', admin: 'operate' }
  let refused = 0
  for (const s of specs) {
    const short = below[s.permission]
    if (!short) continue
    for (const ex of s.examples) {
      const r = await reg.executeLine(ex, as(short))
      t.match(r, { ok: false, code: 'FW_ERR_PERMISSION', message: `${s.name} needs ${s.permission} rights; you have ${short}` }, `${ex} as ${short}`)
      refused++
    }
    // and an observer can never change anything
    const r = await reg.executeLine(s.examples[0]!, as('observe'))
    t.match(r, { ok: false, code: 'FW_ERR_PERMISSION' }, `${s.examples[0]} as observe`)
  }
  t.ok(refused >= 25, `${refused} refusals`)
  t.equal(await snapshot(), before, 'nothing changed on the unit')
  for (const s of specs.filter((x) => x.permission === 'observe')) {
    const r = await reg.executeLine(s.examples[0]!, as('observe'))
    t.not(!r.ok && r.code, 'FW_ERR_PERMISSION', `${s.examples[0]}: observe is enough`)
  }
})
