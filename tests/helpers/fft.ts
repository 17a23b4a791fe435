// The tests' own FFT, for correlating what a peer recorded with what was sent: plain TypeScript in
// double precision, independent of the engine's FFT (addons/src/dsp/fft.h) it checks.

/** In-place radix-2 FFT (re, im; length a power of two; inverse: conjugate twiddles, no scaling). */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1
    for (; j & bit; bit >>= 1) j ^= bit
    j ^= bit
    if (i < j) {
      ;[re[i], re[j]] = [re[j]!, re[i]!]
      ;[im[i], im[j]] = [im[j]!, im[i]!]
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len
    const wr = Math.cos(ang)
    const wi = Math.sin(ang)
    for (let i = 0; i < n; i += len) {
      let cr = 1
      let ci = 0
      for (let k = 0; k < len / 2; k++) {
        const a = i + k
        const b = a + len / 2
        const xr = re[b]! * cr - im[b]! * ci
        const xi = re[b]! * ci + im[b]! * cr
        re[b] = re[a]! - xr
        im[b] = im[a]! - xi
        re[a] = re[a]! + xr
        im[a] = im[a]! + xi
        const t = cr * wr - ci * wi
        ci = cr * wi + ci * wr
        cr = t
      }
    }
  }
}

/** Where `seg` sits in `ref` (best normalized correlation), and that correlation. */
export function locate(ref: Float32Array, seg: Float32Array): { offset: number; corr: number } {
  let n = 1
  while (n < ref.length + seg.length) n <<= 1
  const ar = new Float64Array(n)
  const ai = new Float64Array(n)
  const br = new Float64Array(n)
  const bi = new Float64Array(n)
  ar.set(ref)
  br.set(seg)
  fft(ar, ai)
  fft(br, bi)
  for (let i = 0; i < n; i++) {
    const r = ar[i]! * br[i]! + ai[i]! * bi[i]!
    const m = ai[i]! * br[i]! - ar[i]! * bi[i]!
    ar[i] = r
    ai[i] = m
  }
  fft(ar, ai, true)
  let best = -1
  let bestAt = 0
  // Normalize by the reference's energy under the segment at each offset (running sum).
  const e = new Float64Array(ref.length + 1)
  for (let i = 0; i < ref.length; i++) e[i + 1] = e[i]! + ref[i]! * ref[i]!
  let segE = 0
  for (const v of seg) segE += v * v
  for (let k = 0; k + seg.length <= ref.length; k++) {
    const re = e[k + seg.length]! - e[k]!
    if (re <= 0) continue
    const c = ar[k]! / n / Math.sqrt(re * segE)
    if (c > best) {
      best = c
      bestAt = k
    }
  }
  return { offset: bestAt, corr: best }
}
