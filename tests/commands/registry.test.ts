import t from 'tap'
import { argsJsonSchema, createRegistry, formatHuman, formatMachine, type Principal, tokenize } from '../../firmware/commands/index.ts'
import { ERRORS } from '../../firmware/errors.ts'
import { registerPresetCommands } from '../../firmware/store/commands.ts'
import { PresetStore } from '../../firmware/store/presets.ts'
import { FakeAppliance } from './fake-appliance.ts'

const admin: Principal = { name: 'test:admin', permission: 'admin', transport: 'test' }
const operator: Principal = { name: 'test:op', permission: 'operate', transport: 'test' }
const observer: Principal = { name: 'test:obs', permission: 'observe', transport: 'test' }

t.test('every command has help text, an example, a permission and a known arg type', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  const names = reg.list().map((s) => s.name)
  for (const want of [
    'help',
    'status',
    'version',
    'bypass',
    'mode',
    'beam list',
    'beam steer',
    'beam auto',
    'gain',
    'eq',
    'comp',
    'preset list',
    'preset save',
    'preset load',
    'preset delete',
    'faults',
    'log tail',
    'meters',
    'model list',
    'model activate',
    'model rollback',
    'net show',
    'reboot',
    'factory-reset',
  ])
    t.ok(names.includes(want), `${want} is registered`)
  for (const s of reg.list()) {
    t.ok(s.summary.length > 5, `${s.name} has a summary`)
    t.ok(s.examples.length > 0 && s.examples.every((e) => e.startsWith(s.name)), `${s.name} examples start with its name`)
  }
})

t.test('the examples in help all parse (no example tells a user to type something invalid)', async (t) => {
  const app = new FakeAppliance({ hooks: true })
  const reg = createRegistry(app)
  for (const s of reg.list()) {
    for (const ex of s.examples) {
      const r = await reg.executeLine(ex, admin)
      t.not(r.ok ? 'ok' : r.code, 'FW_ERR_BAD_ARG', `${ex} parses`)
      t.not(r.ok ? 'ok' : r.code, 'FW_ERR_UNKNOWN_COMMAND', `${ex} resolves`)
    }
  }
})

t.test('console tokens and a JSON object give the same effect', async (t) => {
  const app = new FakeAppliance()
  const reg = createRegistry(app)
  const a = await reg.execute('beam steer', ['2', '45', 'elevation=10'], operator)
  t.same(a, { ok: true, command: 'beam steer', value: { beam: 2, azimuth: 45, elevation: 10, auto: false } })
  const b = await reg.execute('beam steer', { beam: 3, azimuth: -30 }, operator)
  t.ok(b.ok)
  t.same(app.calls, ['steer 1 45 10', 'steer 2 330 0'], 'beams are numbered from 1 for users, 0-based toward the appliance')
  t.equal(formatMachine(a), 'OK beam steer beam=2 azimuth=45 elevation=10 auto=off')
})

t.test('out-of-range and wrongly typed arguments are refused, naming the field, and change nothing', async (t) => {
  const app = new FakeAppliance()
  const reg = createRegistry(app)
  // The preset commands are the store's; registered here as the composition root registers them.
  registerPresetCommands(reg, new PresetStore(t.testdir()))
  const cases: Array<[string, RegExp]> = [
    ['gain 9 -6', /output must be a whole number from 1 to 4, got "9"/],
    ['gain 1 loud', /db must be a number from -80 to 12 dB, got "loud"/],
    ['gain 1 1e3', /db must be a number/],
    ['gain 1 NaN', /db must be a number/],
    ['gain 1', /db is missing/],
    ['gain 1 -6 7', /too many arguments/],
    ['gain 1 volume=3', /no argument "volume"/],
    ['beam steer 1 400', /azimuth must be a number from -180 to 360/],
    ['bypass maybe', /state must be on or off/],
    ['eq 1 9 gain=3', /band must be a whole number from 1 to 4/],
    ['eq 1 1', /nothing to change/],
    ['comp 1 ratio=0.5', /ratio must be a number from 1 to 20/],
    ['preset save "bad name!"', /name must be a name/],
  ]
  for (const [line, re] of cases) {
    const r = await reg.executeLine(line, admin)
    t.equal(r.ok, false, line)
    if (!r.ok) {
      t.equal(r.code, 'FW_ERR_BAD_ARG', `${line}: code`)
      t.match(r.message, re, `${line}: message`)
    }
  }
  const j = await reg.execute('gain', { output: '1', db: 3 }, admin)
  t.equal(j.ok, false)
  if (!j.ok) t.match(j.message, /output must be a whole number/)
  const k = await reg.execute('gain', { output: 1, db: 3, extra: true }, admin)
  t.equal(k.ok, false)
  if (!k.ok) t.match(k.message, /unknown field "extra"/)
  t.same(app.calls, [], 'nothing was called on the appliance')
})

t.test('unknown commands suggest what to type instead', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  const r = await reg.executeLine('stauts', observer)
  t.match(r, { ok: false, code: 'FW_ERR_UNKNOWN_COMMAND', message: /did you mean "status"/ })
  const g = await reg.executeLine('beam', observer)
  t.match(g, { ok: false, code: 'FW_ERR_UNKNOWN_COMMAND', message: /needs a subcommand: beam auto \| beam list \| beam steer/ })
  const s = await reg.executeLine('beam point 1 2', observer)
  t.match(s, { ok: false, message: /has no subcommand "point"/ })
})

t.test('permissions: observe < operate < admin', async (t) => {
  const app = new FakeAppliance({ hooks: true })
  const reg = createRegistry(app)
  t.ok((await reg.executeLine('status', observer)).ok, 'observer reads status')
  t.match(await reg.executeLine('bypass on', observer), { ok: false, code: 'FW_ERR_PERMISSION', message: /needs operate rights; you have observe/ })
  t.equal(app.state, 'ACTIVE', 'bypass untouched')
  t.ok((await reg.executeLine('bypass on', operator)).ok, 'operator engages bypass')
  t.equal(app.state, 'MANUAL_BYPASS')
  t.same(app.calls, ['bypass true test:op'], 'the person is recorded')
  t.match(await reg.executeLine('reboot', operator), { ok: false, code: 'FW_ERR_PERMISSION' })
  const c = await reg.executeLine('bypass on', { name: 'console:x', permission: 'observe', transport: 'console' })
  t.match(c, { message: /log in with: login <PIN>/ })
})

t.test('destructive commands need a one-time confirm token', async (t) => {
  let now = 1000
  const app = new FakeAppliance({ hooks: true })
  const reg = createRegistry(app, { now: () => now })
  const first = await reg.executeLine('factory-reset', admin)
  t.equal(first.ok, false)
  if (first.ok) return
  t.equal(first.code, 'FW_ERR_CONFIRM_REQUIRED')
  t.match(first.message, /To proceed within 30 s send: factory-reset confirm=[A-Z2-9]{4}/)
  t.same(app.resets, [], 'nothing reset yet')
  const wrong = await reg.executeLine('factory-reset confirm=ZZZZ', admin)
  t.match(wrong, { ok: false, code: 'FW_ERR_CONFIRM_REQUIRED', message: /wrong or expired/ })
  t.same(app.resets, [])
  // a token for another principal does not work
  const other = await reg.executeLine('factory-reset', { ...admin, name: 'someone-else' })
  if (other.ok) return t.fail('no')
  const stolen = await reg.executeLine(`factory-reset confirm=${other.confirmToken}`, admin)
  t.equal(stolen.ok, false, 'a token is bound to the principal that asked')
  const fresh = await reg.executeLine('factory-reset', admin)
  if (fresh.ok) return t.fail('no')
  now += 31_000
  t.equal((await reg.executeLine(`factory-reset confirm=${fresh.confirmToken}`, admin)).ok, false, 'an expired token is refused')
  const again = await reg.executeLine('factory-reset', admin)
  if (again.ok) return t.fail('no')
  const done = await reg.execute('factory-reset', { confirm: again.confirmToken!.toLowerCase() }, admin)
  t.same(done, { ok: true, command: 'factory-reset', value: { reset: true } }, 'JSON confirm works, case-insensitive')
  t.same(app.resets, ['test:admin'])
  t.equal((await reg.execute('factory-reset', { confirm: again.confirmToken }, admin)).ok, false, 'a token works once')
})

t.test('owned commands answer "not available yet" until their owner registers them', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  const r = await reg.executeLine('preset list', observer)
  t.match(r, { ok: false, code: 'FW_ERR_NOT_AVAILABLE', message: /preset list is not available yet: the store is not running/ })
  reg.register({
    name: 'preset list',
    summary: 'the saved presets',
    examples: ['preset list'],
    permission: 'observe',
    args: [],
    handler: () => ['main', 'encore'],
  })
  t.same(await reg.executeLine('preset list', observer), { ok: true, command: 'preset list', value: ['main', 'encore'] })
  t.throws(
    () => reg.register({ name: 'status', summary: 'x', examples: ['status'], permission: 'observe', args: [], handler: () => 1 }),
    /already registered/,
    'a real command cannot be registered twice',
  )
  t.throws(
    () => reg.register({ name: 'gain set', summary: 'x', examples: ['gain set'], permission: 'observe', args: [], handler: () => 1 }),
    /clashes with "gain"/,
  )
})

t.test('handler failures and hangs become coded errors, never stacks', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  reg.register({
    name: 'boom',
    summary: 'throws',
    examples: ['boom'],
    permission: 'observe',
    args: [],
    handler: () => {
      throw new TypeError('x is undefined')
    },
  })
  reg.register({ name: 'hang', summary: 'hangs', examples: ['hang'], permission: 'observe', args: [], timeoutMs: 50, handler: () => new Promise(() => {}) })
  const b = await reg.executeLine('boom', observer)
  t.match(b, { ok: false, code: 'FW_ERR_COMMAND_FAILED', message: 'boom failed: x is undefined' })
  t.match(await reg.executeLine('hang', observer), { ok: false, code: 'FW_ERR_COMMAND_FAILED', message: /did not finish within 50 ms/ })
})

t.test('audit listeners see state-changing commands with who and result', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  const seen: string[] = []
  reg.onExecuted((r) => seen.push(`${r.principal.name} ${r.command} ${r.ok ? 'ok' : r.code} ${r.mutates}`))
  await reg.executeLine('gain 2 -3', operator)
  await reg.executeLine('status', observer)
  await reg.executeLine('gain 2 99', operator)
  t.same(seen, ['test:op gain ok true', 'test:obs status ok false', 'test:op gain FW_ERR_BAD_ARG true'])
})

t.test('machine formatting is one line of key=value tokens; strings are quoted', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  const log = await reg.executeLine('log tail 1', observer)
  t.equal(formatMachine(log), 'OK log tail 1.at=1970-01-01T00:00:00.000Z 1.level=info 1.source=test 1.message="hello \\"world\\""')
  const st = formatMachine(await reg.executeLine('status', observer))
  t.match(st, /^OK status state=ACTIVE cause=test since=\S+ relay=processed mode=advisory /)
  t.notMatch(st, /\n/)
  t.equal(formatMachine({ ok: false, command: 'x', code: 'FW_ERR_BAD_ARG', message: 'two\nlines' }), 'ERR FW_ERR_BAD_ARG two lines')
  const help = await reg.executeLine('help beam steer', observer)
  t.match(formatHuman(help, reg.get('help')), /beam steer <beam> <azimuth> \[elevation\][\s\S]*e\.g\. beam steer 1 45/)
})

t.test('tokenizer handles quotes and refuses an open quote', async (t) => {
  t.same(tokenize('  preset save  "a b" c\\d '), ['preset', 'save', 'a b', 'c\\d'])
  t.same(tokenize('x ""'), ['x', ''])
  t.throws(() => tokenize('x "abc'), /quote is not closed/)
})

t.test('JSON schemas for the API follow the argument specs', async (t) => {
  const app = new FakeAppliance()
  const reg = createRegistry(app)
  const s = argsJsonSchema(reg.get('gain')!, app)
  t.same(s, {
    type: 'object',
    additionalProperties: false,
    required: ['output', 'db'],
    properties: {
      output: { description: 'output number, from 1', type: 'integer', minimum: 1, maximum: 4 },
      db: { description: 'gain in dB, -80 to +12', type: 'number', minimum: -80, maximum: 12 },
    },
  })
  t.ok((argsJsonSchema(reg.get('reboot')!, app).properties as Record<string, unknown>).confirm, 'destructive commands take confirm')
})

t.test('every code the registry returns is in the error table', async (t) => {
  for (const c of [
    'FW_ERR_UNKNOWN_COMMAND',
    'FW_ERR_BAD_ARG',
    'FW_ERR_PERMISSION',
    'FW_ERR_CONFIRM_REQUIRED',
    'FW_ERR_NOT_AVAILABLE',
    'FW_ERR_COMMAND_FAILED',
  ]) {
    t.ok(c in ERRORS, c)
  }
})

t.test('an owner that stops: its command goes back to "not available", named by owner', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  reg.register({ name: 'preset list', summary: 'the saved presets', examples: ['preset list'], permission: 'observe', args: [], handler: () => [] })
  t.same(await reg.executeLine('preset list', observer), { ok: true, command: 'preset list', value: [] })
  t.ok(reg.unregister('preset list'), 'the real command is removed')
  t.match(await reg.executeLine('preset list', observer), {
    ok: false,
    code: 'FW_ERR_NOT_AVAILABLE',
    message: 'preset list is not available yet: the store is not running on this unit',
  })
  t.notOk(reg.unregister('preset list'), 'a stand-in is not a command to remove')
  t.ok(reg.get('preset list'), 'and help still lists it')
})

t.test('JSON arguments the parse step refuses: each answers FW_ERR_BAD_ARG, is recorded once, and nothing runs', async (t) => {
  const app = new FakeAppliance({ hooks: true })
  const reg = createRegistry(app)
  reg.register({
    name: 'words-only',
    summary: 'a command that reads its own console words',
    examples: ['words-only a b'],
    permission: 'observe',
    ownParsing: true,
    args: [],
    handler: () => 'ran',
  })
  const records: Array<{ command: string; ok: boolean; code?: string }> = []
  reg.onExecuted((r) => records.push({ command: r.command, ok: r.ok, ...(r.code ? { code: r.code } : {}) }))
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['confirm on a command that is not destructive', 'gain', { output: 1, db: -6, confirm: 'ABCD' }, /gain: unknown field "confirm" \(it is not destructive\)/],
    ['a confirm that is not a string', 'factory-reset', { confirm: 1234 }, /factory-reset: confirm must be a string token/],
    ['JSON to a command that reads console words', 'words-only', {}, /words-only: takes console words, not JSON/],
    ['arguments that are not an object', 'gain', null, /gain: arguments must be a JSON object/],
  ]
  for (const [what, name, args, message] of cases) {
    t.match(await reg.execute(name, args as Record<string, unknown>, admin), { ok: false, command: name, code: 'FW_ERR_BAD_ARG', message }, what)
  }
  t.same(app.calls, [], 'no handler ran')
  t.same(app.resets, [], 'nothing reset')
  t.same(
    records,
    cases.map(([, name]) => ({ command: name, ok: false, code: 'FW_ERR_BAD_ARG' })),
    'each refusal recorded once',
  )
  t.same(await reg.execute('words-only', ['a', 'b'], admin), { ok: true, command: 'words-only', value: 'ran' }, 'console words run it')
})

t.test('key=value names are case-insensitive and reach the handler under the name the spec declares', async (t) => {
  const reg = createRegistry(new FakeAppliance())
  reg.register({
    name: 'jitter',
    summary: 'echoes its argument',
    examples: ['jitter linkOffsetMs=2'],
    permission: 'observe',
    args: [{ name: 'linkOffsetMs', type: 'number', min: 0.25, max: 100, help: 'ms' }],
    handler: (a) => a.linkOffsetMs,
  })
  for (const line of ['jitter linkOffsetMs=2', 'jitter linkoffsetms=2', 'jitter LINKOFFSETMS=2', 'jitter 2'])
    t.same(await reg.executeLine(line, observer), { ok: true, command: 'jitter', value: 2 }, line)
  t.match(await reg.executeLine('jitter linkOffsetMs=0.1', observer), { ok: false, code: 'FW_ERR_BAD_ARG', message: /^jitter: linkOffsetMs must be / })
  t.match(await reg.executeLine('jitter offset=2', observer), { ok: false, code: 'FW_ERR_BAD_ARG', message: /no argument "offset"/ })
})
