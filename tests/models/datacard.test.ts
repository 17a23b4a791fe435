// The crowd-state model's data card (issue 13): the shipped manifest says what the model was
// trained on (families and their sources, counts) and how it does on families it never saw
// (leave-one-family-out, per family); the committed held-out family set runs through the firmware's
// own inference service and scores what the manifest and the docs say.

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BUILTIN_MANIFESTS, loadManifest, modelsDir } from '../../firmware/inference/manifest.ts'
import { classifyPatches, MEL_BANDS, PATCH_FRAMES } from '../../firmware/inference/models.ts'
import { InferenceService } from '../../firmware/inference/service.ts'

const CLASSES = ['silence', 'speech', 'music', 'applause', 'feedback']

interface FamilyScore {
  trainedOn: string[]
  macroF1: number
  f1: Record<string, number>
  accuracy: number
  alarmRecall: number
  alarmPrecision: number
  confusion: number[][]
  clips: number
}
interface Fixture {
  family: string
  model: string
  patches: string
  labels: number[]
  scale: number
  macroF1: number
  accuracy: number
}
interface DataCard {
  families: Record<string, Record<string, string>>
  counts: { perClassPerFamily: number; clips: number }
  perFamily: Record<string, FamilyScore>
  worstFamily: string
  fixture: Fixture
}

const shipped = loadManifest(BUILTIN_MANIFESTS[0]!)
const card = shipped.manifest.dataCard as DataCard
const docs = readFileSync(join(modelsDir, '..', 'docs', 'inference.md'), 'utf8')

function macroF1(truth: number[], pred: number[]): number {
  const k = CLASSES.length
  let sum = 0
  for (let c = 0; c < k; c++) {
    let tp = 0,
      fp = 0,
      fn = 0
    truth.forEach((y, i) => {
      if (y === c && pred[i] === c) tp++
      else if (pred[i] === c) fp++
      else if (y === c) fn++
    })
    sum += tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn)
  }
  return sum / k
}

t.test('the shipped crowd-state manifest carries a data card with per-family scores, and its hash is the file', async (t) => {
  const bytes = readFileSync(shipped.modelPath)
  t.equal(createHash('sha256').update(bytes).digest('hex'), shipped.manifest.sha256, 'sha256 of crowd_state.onnx')
  const groups = Object.keys(card.families)
  t.ok(groups.length >= 3, `at least three family groups (${groups.join(', ')})`)
  for (const g of groups) {
    t.same(Object.keys(card.families[g]!).sort(), [...CLASSES].sort(), `family group ${g} names a source for every class`)
    const s = card.perFamily[g]!
    t.ok(s, `left-out scores for ${g}`)
    t.notOk(s.trainedOn.includes(g), `${g} was left out of its own fold`)
    t.same(Object.keys(s.f1).sort(), [...CLASSES].sort(), `${g}: per-class F1`)
    const total = s.confusion.flat().reduce((a, b) => a + b, 0)
    t.equal(total, s.clips, `${g}: the confusion matrix counts every clip`)
    t.equal(total, card.counts.perClassPerFamily * CLASSES.length, `${g}: all its clips were tested`)
    const mean = Object.values(s.f1).reduce((a, b) => a + b, 0) / CLASSES.length
    t.ok(Math.abs(mean - s.macroF1) < 1e-3, `${g}: macro-F1 is the mean of the per-class F1`)
    t.match(docs, s.macroF1.toFixed(3), `docs/inference.md quotes family ${g}'s left-out macro-F1 ${s.macroF1.toFixed(3)}`)
  }
  const worst = Object.entries(card.perFamily).sort((a, b) => a[1].macroF1 - b[1].macroF1)[0]![0]
  t.equal(card.worstFamily, worst, 'the worst family is named')
})

t.test('the held-out family set scores, through the firmware, what the manifest and the docs say', async (t) => {
  const fx = card.fixture
  t.equal(fx.family, card.worstFamily, 'the fixture is the worst family')
  const rec = loadManifest(join(modelsDir, 'fixtures', 'crowd_state_heldout.manifest.json'))
  t.notOk(
    card.perFamily[fx.family]!.trainedOn.includes(fx.family),
    `its model never saw family ${fx.family} (trained on ${card.perFamily[fx.family]!.trainedOn.join('+')})`,
  )
  const raw = readFileSync(join(modelsDir, fx.patches))
  const q = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2)
  t.equal(q.length, fx.labels.length * PATCH_FRAMES * MEL_BANDS, 'one patch per label')
  const x = Float32Array.from(q, (v) => v * fx.scale)
  const svc = new InferenceService()
  t.teardown(() => svc.stop())
  await svc.start()
  await svc.activate(rec)
  const res = (await classifyPatches(svc, x, { deadlineMs: 10_000 }))!
  const pred = res.map((r) => CLASSES.indexOf(r.label))
  const f1 = macroF1(fx.labels, pred)
  t.ok(Math.abs(f1 - fx.macroF1) < 0.002, `macro-F1 through onnxruntime ${f1.toFixed(4)} = the manifest's ${fx.macroF1}`)
  t.match(docs, fx.macroF1.toFixed(3), 'docs/inference.md quotes it')
})
