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

t.test('the DOA track keeps the precision the report writes, and NaN as null', async (t) => {
  const track = new DoaTrack()
  track.push(1.23456789, -179.99, 89.995, Number.NaN)
  track.push(2, 359.994, -0.004, Number.POSITIVE_INFINITY)
  t.same(track.at(0), { t: 1.23456789, azimuth: -179.99, elevation: 90, confidence: Number.NaN }, 'hundredths of a degree, the time as it came')
  t.same(track.at(1), { t: 2, azimuth: 359.99, elevation: -0, confidence: Number.NaN })
  t.equal(
    formatJson({ doa: track }),
    formatJsonWhole({
      doa: [
        { t: 1.23456789, azimuth: -179.99, elevation: 90, confidence: null },
        { t: 2, azimuth: 359.99, elevation: 0, confidence: null },
      ],
    }),
  )
  track.mapTimes((x) => x + 10)
  t.equal(track.at(1)?.t, 12, 'mapTimes moves every time')
})
