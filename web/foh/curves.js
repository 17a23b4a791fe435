// The curves the page draws, computed from the parameters the unit reports: each EQ band as the
// magnitude response of its biquad (RBJ Audio EQ Cookbook, the same forms addons/src/dsp uses) and
// the compressor's static curve (input level to output level, soft knee). Pure functions.

/** Frequencies from 20 Hz to 20 kHz, log-spaced. */
export function logFreqs(n = 160) {
  const out = new Array(n)
  for (let i = 0; i < n; i++) out[i] = 20 * 1000 ** (i / (n - 1))
  return out
}

/** The biquad coefficients of one band (b0, b1, b2, a0, a1, a2) at sample rate fs. */
export function bandCoefficients(band, fs = 48000) {
  const w0 = (2 * Math.PI * Math.min(band.freqHz, fs * 0.49)) / fs
  const cos = Math.cos(w0)
  const sin = Math.sin(w0)
  const q = Math.max(band.q, 0.05)
  const alpha = sin / (2 * q)
  const A = 10 ** (band.gainDb / 40)
  switch (band.type) {
    case 'peak':
      return [1 + alpha * A, -2 * cos, 1 - alpha * A, 1 + alpha / A, -2 * cos, 1 - alpha / A]
    case 'lowshelf': {
      const s = 2 * Math.sqrt(A) * alpha
      return [
        A * (A + 1 - (A - 1) * cos + s),
        2 * A * (A - 1 - (A + 1) * cos),
        A * (A + 1 - (A - 1) * cos - s),
        A + 1 + (A - 1) * cos + s,
        -2 * (A - 1 + (A + 1) * cos),
        A + 1 + (A - 1) * cos - s,
      ]
    }
    case 'highshelf': {
      const s = 2 * Math.sqrt(A) * alpha
      return [
        A * (A + 1 + (A - 1) * cos + s),
        -2 * A * (A - 1 + (A + 1) * cos),
        A * (A + 1 + (A - 1) * cos - s),
        A + 1 - (A - 1) * cos + s,
        2 * (A - 1 - (A + 1) * cos),
        A + 1 - (A - 1) * cos - s,
      ]
    }
    case 'highpass':
      return [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha]
    case 'lowpass':
      return [(1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha]
    default:
      return [1, 0, 0, 1, 0, 0]
  }
}

/** |H(e^jw)| in dB of one biquad at frequency f. */
export function biquadDb(c, f, fs = 48000) {
  const w = (2 * Math.PI * f) / fs
  const c1 = Math.cos(w)
  const s1 = Math.sin(w)
  const c2 = Math.cos(2 * w)
  const s2 = Math.sin(2 * w)
  const nr = c[0] + c[1] * c1 + c[2] * c2
  const ni = -(c[1] * s1 + c[2] * s2)
  const dr = c[3] + c[4] * c1 + c[5] * c2
  const di = -(c[4] * s1 + c[5] * s2)
  return 10 * Math.log10((nr * nr + ni * ni) / (dr * dr + di * di))
}

/** The output's EQ as one curve in dB at `freqs`: the enabled bands summed, plus the output gain. */
export function eqCurve(bands, gainDb, freqs, fs = 48000) {
  const cs = bands.filter((b) => b.enabled).map((b) => bandCoefficients(b, fs))
  return freqs.map((f) => cs.reduce((sum, c) => sum + biquadDb(c, f, fs), gainDb))
}

/** The compressor's static curve: output level for each input level (dBFS), with the soft knee. */
export function compressorCurve(p, inputs) {
  return inputs.map((x) => {
    if (!p.enabled) return x
    const over = x - p.thresholdDb
    const k = p.kneeDb
    let y
    if (2 * over < -k) y = x
    else if (k > 0 && 2 * Math.abs(over) <= k) y = x + ((1 / p.ratio - 1) * (over + k / 2) ** 2) / (2 * k)
    else y = p.thresholdDb + over / p.ratio
    return y + p.makeupDb
  })
}
