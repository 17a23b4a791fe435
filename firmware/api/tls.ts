// TLS for the API: TLS 1.3 only, mutual certificates signed by the device's operator CA, revocation
// checked twice — by OpenSSL at the handshake (the CRL is in the secure context) and per request
// against the revoked serials (so a revoked client on a kept-alive or resumed session is refused too).
import { existsSync, readFileSync } from 'node:fs'
import { type SecureContextOptions, TLSSocket, type Server as TlsServer } from 'node:tls'
import type { Permission } from '../commands/types.ts'
import type { DeviceIdentity } from '../secrets/identity.ts'

/** Serial numbers (upper-case hex, no leading zeros) listed in a PEM CRL. A tiny DER walk, no deps. */
export function revokedSerials(crlPem: string): Set<string> {
  const b64 = crlPem.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, '')
  const der = Buffer.from(b64, 'base64')
  const out = new Set<string>()
  // Returns [tag, contentStart, contentEnd] of the element at `at`.
  const el = (at: number): [number, number, number] => {
    const tag = der[at]!
    let len = der[at + 1]!
    let p = at + 2
    if (len & 0x80) {
      const n = len & 0x7f
      len = 0
      for (let i = 0; i < n; i++) len = len * 256 + der[p + i]!
      p += n
    }
    if (p + len > der.length) throw new Error('truncated DER')
    return [tag, p, p + len]
  }
  const [, cl0] = el(0) // CertificateList
  const [tbsTag, t0, t1] = el(cl0) // TBSCertList
  if (tbsTag !== 0x30) throw new Error('not a CRL')
  let p = t0
  const next = (): [number, number, number] => {
    const e = el(p)
    p = e[2]
    return e
  }
  let e = next()
  if (e[0] === 0x02) e = next() // version
  // e = signature AlgorithmIdentifier; then issuer, thisUpdate
  next()
  next()
  while (p < t1) {
    const [tag, s, end] = next()
    if (tag === 0x30 && p <= t1) {
      // Either revokedCertificates (SEQUENCE OF SEQUENCE) or nothing else with tag 0x30 here.
      let q = s
      while (q < end) {
        const [, es, ee] = el(q)
        const [stag, ss, se] = el(es)
        if (stag === 0x02) {
          let hex = der
            .subarray(ss, se)
            .toString('hex')
            .toUpperCase()
            .replace(/^0+(?=.)/, '')
          if (hex === '') hex = '0'
          out.add(hex)
        }
        q = ee
      }
    }
  }
  return out
}

export function normaliseSerial(s: string): string {
  return s.toUpperCase().replace(/^0+(?=.)/, '')
}

/** Secure context options for https.createServer / setSecureContext. */
export function tlsOptions(id: DeviceIdentity): SecureContextOptions & { requestCert: true; rejectUnauthorized: true } {
  const opts: SecureContextOptions & { requestCert: true; rejectUnauthorized: true } = {
    key: id.deviceKeyPem,
    cert: id.deviceCertPem,
    ca: id.caCertPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
  }
  if (existsSync(id.crlPath)) opts.crl = readFileSync(id.crlPath, 'utf8')
  return opts
}

/** Who is calling, from the client certificate. */
export interface ClientIdentity {
  cn: string
  serial: string
  /** OU of the certificate: operator, observer or admin. */
  role: string
  permission: Permission
  validTo: number
}

/** Role (certificate OU) to registry permission. Unknown roles get nothing. */
export function permissionFor(role: string): Permission | null {
  if (role === 'observer') return 'observe'
  if (role === 'operator') return 'operate'
  if (role === 'admin') return 'admin'
  return null
}

const cache = new WeakMap<TLSSocket, ClientIdentity | null>()

/** The verified client of a socket, or null (no/unknown role). Cached per connection. */
export function clientOf(sock: TLSSocket): ClientIdentity | null {
  if (cache.has(sock)) return cache.get(sock)!
  let id: ClientIdentity | null = null
  if (sock.authorized) {
    const c = sock.getPeerCertificate()
    const pick = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''))
    const role = pick(c.subject?.OU)
    const permission = permissionFor(role)
    if (c.serialNumber && permission) {
      id = { cn: pick(c.subject?.CN), serial: normaliseSerial(c.serialNumber), role, permission, validTo: Date.parse(c.valid_to) }
    }
  }
  cache.set(sock, id)
  return id
}

/** Why a client certificate was refused, in words, from OpenSSL's verify error code. */
export function refusalReason(code: string | undefined): string {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'certificate expired'
    case 'CERT_NOT_YET_VALID':
      return 'certificate not valid yet'
    case 'CERT_REVOKED':
      return 'certificate revoked'
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return "certificate not issued by this unit's operator CA (unknown CA)"
    case 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE':
      return 'no client certificate (certificate_required alert sent)'
    case 'ERR_SSL_UNSUPPORTED_PROTOCOL':
    case 'ERR_SSL_NO_PROTOCOLS_AVAILABLE':
      return 'TLS version below 1.3 (protocol_version alert sent)'
    default:
      return code ?? 'unknown reason'
  }
}

const kReject = Symbol('rejectUnauthorized')
const refusingServers = new WeakSet<object>()
let takenOver = false

/**
 * Lets `server` refuse bad client certificates itself, so it can say why. Node verifies a client
 * certificate after the handshake (its OpenSSL verify callback always continues) and, on a server
 * with rejectUnauthorized, destroys the socket without a word: the reason and often the address are
 * lost. The server keeps rejectUnauthorized — OpenSSL then still aborts a handshake without a
 * certificate with the certificate_required alert — but Node's silent destroy is skipped for its
 * sockets, and they reach 'secureConnection' with `authorized` false and `authorizationError` set:
 * the caller logs and destroys them there. (This reads Node's TLSSocket `_rejectUnauthorized`
 * field; tests/api/15-refusals.test.ts guards it on the pinned Node.)
 */
export function refuseInSecureConnection(server: TlsServer): void {
  refusingServers.add(server)
  if (takenOver) return
  takenOver = true
  Object.defineProperty(TLSSocket.prototype, '_rejectUnauthorized', {
    configurable: true,
    get(this: TLSSocket & { [kReject]?: boolean; _tlsOptions?: { isServer?: boolean; server?: object } }) {
      const o = this._tlsOptions
      if (o?.isServer && o.server && refusingServers.has(o.server)) return false
      return this[kReject] === true
    },
    set(this: TLSSocket & { [kReject]?: boolean }, v: boolean) {
      this[kReject] = v
    },
  })
}
