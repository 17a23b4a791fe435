// The shared validators: what a person reads when a value is refused, for each kind of bad value.
import t from 'tap'
import { checker, numberIn, oneOf, record, text, wholeNumberIn } from '../firmware/validate.ts'

const c = checker('FW_ERR_BAD_OPTION', (field, complaint) => `test option ${field}: ${complaint}`)

t.test('numbers: NaN, Infinity, strings, null and out-of-range values are refused with the field named', async (t) => {
  t.equal(numberIn(c, 1.5, 'x', { min: 0, max: 2 }), 1.5)
  t.equal(numberIn(c, -1e300, 'x'), -1e300, 'no range: any finite number')
  for (const [v, shown] of [
    [Number.NaN, 'NaN'],
    [Infinity, 'Infinity'],
    ['3', '"3"'],
    [null, 'null'],
    [undefined, 'undefined'],
    [{}, '{}'],
  ] as const) {
    t.throws(() => numberIn(c, v, 'gain'), { code: 'FW_ERR_BAD_OPTION', message: `test option gain: must be a number, got ${shown}` })
  }
  t.throws(() => numberIn(c, 3, 'gain', { min: 0, max: 2 }), { message: 'test option gain: must be between 0 and 2, got 3' })
  t.throws(() => numberIn(c, -0.0001, 'gain', { min: 0, max: 2 }), { message: /between 0 and 2/ })
  t.equal(numberIn(c, 2, 'gain', { min: 0, max: 2 }), 2, 'the bounds are inclusive')
})

t.test('whole numbers', async (t) => {
  t.equal(wholeNumberIn(c, 64, 'block', 1, 65536), 64)
  t.throws(() => wholeNumberIn(c, 64.5, 'block', 1, 65536), { message: 'test option block: must be a whole number, got 64.5' })
  t.throws(() => wholeNumberIn(c, 0, 'block', 1, 65536), { message: /between 1 and 65536, got 0/ })
})

t.test('choices, text and objects', async (t) => {
  t.equal(oneOf(c, 'mvdr', 'kind', ['das', 'mvdr'] as const), 'mvdr')
  t.throws(() => oneOf(c, 'MVDR', 'kind', ['das', 'mvdr']), { message: 'test option kind: must be one of "das", "mvdr", got "MVDR"' })
  t.equal(text(c, 'a', 'name'), 'a')
  t.throws(() => text(c, '', 'name'), { message: /must be a non-empty string, got ""/ })
  t.same(record(c, { a: 1 }, 'sim'), { a: 1 })
  t.throws(() => record(c, [1], 'sim'), { message: 'test option sim: must be an object, got [1]' })
  t.throws(() => record(c, null, 'sim'), { message: /must be an object, got null/ })
})

t.test("the error code is the caller's", async (t) => {
  const profile = checker('FW_ERR_BOARD_PROFILE', (f, m) => `board profile ${f}: ${m}`)
  t.throws(() => numberIn(profile, 'x', 'audio.inputs'), { code: 'FW_ERR_BOARD_PROFILE', message: 'board profile audio.inputs: must be a number, got "x"' })
})
