// The report's JSON is written in pieces (a 2-hour show's DOA track has about 675,000 estimates),
// and must read exactly as the whole-string formatter wrote it: indent 2, flat records on one line.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { formatJson, formatJsonWhole } from '../../firmware/process/process.ts'
import { DoaTrack } from '../../firmware/process/report.ts'

t.test('the piecewise writer gives the same text as the whole-string formatter', async (t) => {
  const samples: unknown[] = [
    {},
    [],
    { a: [], b: {}, c: null, d: 'x{y', e: [1, 'a]b', { f: 1 }], g: undefined, h: [undefined, 2] },
    { doa: Array.from({ length: 50 }, (_, i) => ({ t: i / 100, azimuth: i * 7.5, elevation: 0, confidence: 0.5 })) },
    { nested: { deep: { deeper: { x: 1, y: 'two', z: true } } }, nan: Number.NaN, list: [[1, 2], [3]] },
    JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')),
  ]
  for (const [i, v] of samples.entries()) t.equal(formatJson(v), formatJsonWhole(v), `sample ${i}`)
})

t.test('a compact DOA track is written as the array of estimates it holds', async (t) => {
  const list = Array.from({ length: 20000 }, (_, i) => ({ t: i / 94, azimuth: (i * 7.25) % 360, elevation: -3.5, confidence: 0.123 }))
  const track = new DoaTrack()
  for (const d of list) track.push(d.t, d.azimuth, d.elevation, d.confidence)
  t.equal(track.length, list.length)
  t.same(track.at(DoaTrack.CHUNK), list[DoaTrack.CHUNK], 'an estimate past the first chunk')
  t.equal(formatJson({ doa: track, x: 1 }), formatJsonWhole({ doa: list, x: 1 }))
  t.equal(formatJson({ doa: new DoaTrack() }), formatJsonWhole({ doa: [] }))
  t.equal(JSON.stringify(track), JSON.stringify(list))
})
