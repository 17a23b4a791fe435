import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import t from 'tap'
import { BUILTIN_MANIFESTS, loadManifest, shapeMismatches } from '../../firmware/inference/manifest.ts'

const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node')

for (const path of BUILTIN_MANIFESTS) {
  t.test(`${path.split('/').pop()}: the committed model matches its manifest`, async (t) => {
    const rec = loadManifest(path)
    const m = rec.manifest
    const bytes = readFileSync(rec.modelPath)
    t.equal(createHash('sha256').update(bytes).digest('hex'), m.sha256, 'sha256')
    const s = await ort.InferenceSession.create(bytes)
    const meta = (x: readonly unknown[]) => x.map((i) => i as { name: string; type: string; shape: Array<number | string> })
    t.same(shapeMismatches(m, meta(s.inputMetadata), meta(s.outputMetadata)), [], 'inputs and outputs as declared')
    t.ok(m.latencyBudgetMs > 0 && m.minConfidence >= 0 && m.minConfidence <= 1)
    t.ok(m.heldout, 'held-out accuracy is recorded')
    await s.release()
  })
}

t.test('the crowd-state manifest lists the five crowd states and an honest confusion matrix', async (t) => {
  const m = loadManifest(BUILTIN_MANIFESTS[0]!).manifest
  t.same(m.classes, ['silence', 'speech', 'music', 'applause', 'feedback'])
  const h = m.heldout as { accuracy: number; confusion: number[][] }
  const total = h.confusion.flat().reduce((a, b) => a + b, 0)
  const right = h.confusion.reduce((a, row, i) => a + row[i]!, 0)
  t.equal(Math.round((right / total) * 1e4) / 1e4, h.accuracy, 'the accuracy is the confusion matrix diagonal')
})

t.test("the docs quote the manifests' held-out figures", async (t) => {
  const doc = readFileSync('docs/inference.md', 'utf8')
  const crowd = loadManifest(BUILTIN_MANIFESTS[0]!).manifest.heldout as { accuracy: number }
  t.match(doc, `${(crowd.accuracy * 100).toFixed(1)}%`)
  const vad = loadManifest(BUILTIN_MANIFESTS[2]!).manifest.heldout as { rawFrameF1At0p5: number; smoothedFrameF1: number }
  t.match(doc, vad.rawFrameF1At0p5.toFixed(3))
  t.match(doc, vad.smoothedFrameF1.toFixed(3))
})
