// The recovery console's line discipline, byte by byte (the PTY tests in console.test.ts drive it
// end to end through `recovery console`).
import t from 'tap'
import { type LineAction, LineDiscipline } from '../../recovery/line-discipline.ts'

const feed = (d: LineDiscipline, s: string | Buffer): LineAction[] => d.feed(typeof s === 'string' ? Buffer.from(s, 'latin1') : s)
const lines = (a: LineAction[]): string[] => a.flatMap((x) => (x.type === 'line' ? [x.text] : x.type === 'error' ? [`${x.code}`] : []))

t.test('CR, LF and CRLF each end one line; text split across chunks joins', async (t) => {
  const d = new LineDiscipline()
  t.same(lines([...feed(d, 'sta'), ...feed(d, 'tus\r\nslots\rhelp\n')]), ['status', 'slots', 'help'])
})

t.test('backspace, DEL and Ctrl-U edit; Ctrl-C drops the line', async (t) => {
  const d = new LineDiscipline()
  t.same(lines(feed(d, 'slotx\x7fs\r')), ['slots'])
  t.same(lines(feed(d, 'rollback\x15status\r')), ['status'])
  const c = feed(d, 'factory-reset yes\x03\r')
  t.ok(c.some((a) => a.type === 'cancel'))
  t.same(lines(c), [''], 'only an empty line is left')
})

t.test('control bytes and escape sequences make one error per line and are never echoed', async (t) => {
  const d = new LineDiscipline()
  const a = feed(d, 'st\x1b[Aa\0tus\x07\r')
  t.same(lines(a), ['REC_ERR_BAD_INPUT'])
  t.match(
    a.find((x) => x.type === 'error'),
    { message: /3 control byte\(s\) \(first 0x1b\)/ },
  )
  const echoed = a
    .filter((x) => x.type === 'echo')
    .map((x) => (x as { text: string }).text)
    .join('')
  t.notMatch(echoed, /[\x00-\x07\x1b]/)
  t.same(lines(feed(d, 'status\r')), ['status'], 'the next line is clean')
})

t.test('a line over the limit: one error, the rest dropped unbuffered up to its end', async (t) => {
  const d = new LineDiscipline({ maxBytes: 512 })
  const out: LineAction[] = []
  const chunk = Buffer.alloc(65536, 0x61)
  for (let i = 0; i < 128; i++) out.push(...d.feed(chunk))
  out.push(...feed(d, '\r\nstatus\r\n'))
  t.same(lines(out), ['REC_ERR_LINE_TOO_LONG', 'status'])
  const echoed = out.filter((x) => x.type === 'echo').reduce((n, x) => n + (x as { text: string }).text.length, 0)
  t.ok(echoed < 600, `${echoed} bytes echoed for 8 MiB`)
})
