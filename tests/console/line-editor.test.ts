import t from 'tap'
import { type EditorAction, LineEditor } from '../../firmware/console/line-editor.ts'

const feed = (e: LineEditor, s: string | Buffer): EditorAction[] => e.feed(typeof s === 'string' ? Buffer.from(s, 'latin1') : s)
const lines = (a: EditorAction[]): string[] => a.flatMap((x) => (x.type === 'line' ? [x.text] : []))
const errors = (a: EditorAction[]): string[] => a.flatMap((x) => (x.type === 'error' ? [x.code] : []))
const echo = (a: EditorAction[]): string => a.map((x) => (x.type === 'echo' ? x.text : '')).join('')

t.test('CR, LF and CRLF each end exactly one line', async (t) => {
  const e = new LineEditor({ human: false })
  t.same(lines(feed(e, 'status\rversion\nmeters\r\nfaults\n\r')), ['status', 'version', 'meters', 'faults', ''])
  // a CRLF split across two reads is still one line end
  t.same(lines(feed(e, 'a\r')), ['a'])
  t.same(lines(feed(e, '\nb\n')), ['b'])
})

t.test('human mode echoes, erases with backspace and recalls history with the arrows', async (t) => {
  const e = new LineEditor({ human: true })
  let a = feed(e, 'statx\x7fus\r')
  t.same(lines(a), ['status'])
  t.equal(echo(a), 'statx\b \bus\r\n')
  feed(e, 'meters\r')
  a = feed(e, '\x1b[A')
  t.equal(echo(a), 'meters', 'up shows the last line')
  a = feed(e, '\x1b[A')
  t.equal(echo(a), `${'\b \b'.repeat(6)}status`, 'up again shows the one before')
  a = feed(e, '\x1bOB\r')
  t.same(lines(a), ['meters'], 'down (SS3 form) goes forward; enter runs it')
  t.same(e.history, ['status', 'meters'], 'a repeated line is kept once')
  a = feed(e, 'abc\x03')
  t.same(
    a.map((x) => x.type),
    ['echo', 'cancel'],
    'ctrl-c drops the line',
  )
  t.same(lines(feed(e, '\r')), [''])
})

t.test('a line over 512 bytes gets one error at once and the rest up to its end is ignored', async (t) => {
  const e = new LineEditor({ human: false })
  const a = feed(e, 'x'.repeat(600))
  t.same(errors(a), ['FW_ERR_LINE_TOO_LONG'])
  t.same(feed(e, 'y'.repeat(5000)), [], 'no more replies while discarding')
  t.same(
    feed(e, 'zz\r\nstatus\r\n').map((x) => x.type),
    ['line'],
    'the line end finishes the discard; the next line works',
  )
  t.same(lines(feed(e, `${'x'.repeat(512)}\n`)), ['x'.repeat(512)], 'exactly 512 bytes is allowed')
})

t.test('NULs, binary bytes and escape sequences turn the whole line into one error', async (t) => {
  const e = new LineEditor({ human: false })
  t.same(errors(feed(e, 'bypass\x00 on\r\n')), ['FW_ERR_BAD_INPUT'])
  const b = feed(e, Buffer.from([0x62, 0xff, 0xfe, 0x80, 0x0a]))
  t.same(errors(b), ['FW_ERR_BAD_INPUT'])
  t.match((b[0] as { message: string }).message, /3 non-text byte\(s\) \(first 0xff at byte 2\)/)
  t.same(errors(feed(e, 'bypass \x1b[31mon\r')), ['FW_ERR_BAD_INPUT'], 'machine mode refuses any escape sequence')
  t.same(lines(feed(e, 'status\r')), ['status'], 'the next clean line works')
})

t.test('noise without line ends is reported after a pause, and only once', async (t) => {
  const e = new LineEditor({ human: false })
  t.same(feed(e, Buffer.from([0xf0, 0x00, 0x80, 0xf8])), [])
  t.ok(e.tainted)
  t.same(errors(e.flushIdle()), ['FW_ERR_BAD_INPUT'])
  t.same(e.flushIdle(), [])
  t.same(lines(feed(e, 'status\n')), ['status'])
  // endless noise: one error per 512 bytes at most
  const noise = Buffer.alloc(512 * 10, 0xff)
  t.ok(errors(feed(e, noise)).length <= 1, 'endless noise with no line end gives one error, not one per byte')
})

t.test('in human mode an unknown key says what to do and leaves the line alone', async (t) => {
  const e = new LineEditor({ human: true })
  const a = feed(e, 'sta\x1b[Dtus\r')
  t.same(
    a.map((x) => x.type),
    ['echo', 'notice', 'echo', 'line'],
  )
  t.same(lines(a), ['status'])
  t.same(lines(feed(e, 'login 1234\r')), ['login 1234'])
  t.same(e.history, ['status'], 'login lines never enter the history')
})

t.test('machine mode edits nothing: BS, DEL, TAB and every other control byte make the line an error', async (t) => {
  const e = new LineEditor({ human: false })
  for (const c of [0x08, 0x7f, 0x09, 0x15, 0x03, 0x0c, 0x01, 0x1f]) {
    const a = feed(e, Buffer.concat([Buffer.from('gain 1 -10'), Buffer.from([c]), Buffer.from('\r\n')]))
    t.same(lines(a), [], `0x${c.toString(16)}: no line`)
    t.same(errors(a), ['FW_ERR_BAD_INPUT'], `0x${c.toString(16)}: one error`)
    t.match((a.find((x) => x.type === 'error') as { message: string }).message, new RegExp(`first 0x${c.toString(16).padStart(2, '0')} at byte 11\\)`))
    t.equal(echo(a), '', 'no echo')
  }
  t.same(lines(feed(e, 'gain 1 -10\r\n')), ['gain 1 -10'], 'a clean line still works')
})
