// Version ordering for the downgrade check: MAJOR.MINOR.PATCH with an optional -prerelease, which
// sorts before its release (1.2.0-rc.1 < 1.2.0). Build metadata (+...) is ignored.

const VERSION = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/

export function isVersion(v: string): boolean {
  return VERSION.test(v)
}

/** Negative when a < b, zero when equal, positive when a > b. Throws on malformed input. */
export function compareVersions(a: string, b: string): number {
  const ma = VERSION.exec(a)
  const mb = VERSION.exec(b)
  if (!ma || !mb) throw new Error(`not a version: ${ma ? b : a}`)
  for (let i = 1; i <= 3; i++) {
    const d = Number(ma[i]) - Number(mb[i])
    if (d !== 0) return d
  }
  const pa = ma[4]
  const pb = mb[4]
  if (pa === pb) return 0
  if (pa === undefined) return 1
  if (pb === undefined) return -1
  const xa = pa.split('.')
  const xb = pb.split('.')
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const sa = xa[i]
    const sb = xb[i]
    if (sa === undefined) return -1
    if (sb === undefined) return 1
    const na = /^\d+$/.test(sa) ? Number(sa) : NaN
    const nb = /^\d+$/.test(sb) ? Number(sb) : NaN
    if (!Number.isNaN(na) && !Number.isNaN(nb)) {
      if (na !== nb) return na - nb
    } else if (sa !== sb) {
      return sa < sb ? -1 : 1
    }
  }
  return 0
}
