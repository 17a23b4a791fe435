// The API worker's HTTPS listener: TLS 1.3 with mutual certificates (tls.ts), bounded connections,
// refused handshakes logged with the client's address and reason, the server certificate and the
// revocation list picked up from disk when they change, and the bind with its IPv4 fallback.

import { createPrivateKey, X509Certificate } from 'node:crypto'
import { unwatchFile, watchFile } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { FirmwareError } from '../errors.ts'
import { type DeviceIdentity, loadIdentity } from '../secrets/identity.ts'
import { refusalReason, refuseInSecureConnection, tlsOptions } from './tls.ts'

type Log = (level: 'info' | 'warn' | 'error', message: string) => void

/** The HTTPS server with its limits and the logging of refused TLS clients. */
export function createApiServer(identity: DeviceIdentity, log: Log): Server {
  const server: Server = createServer({ ...tlsOptions(identity) })
  server.keepAliveTimeout = 65_000
  server.headersTimeout = 20_000
  server.requestTimeout = 30_000
  // Bounded: a flood of connections cannot exhaust file descriptors the audio side may need.
  server.maxConnections = 512
  logRefusals(server, log)
  return server
}

const kPeer = Symbol('peer')
const peerOf = (s: { remoteAddress?: string; remotePort?: number } | undefined): string | null =>
  s?.remoteAddress ? `${s.remoteAddress.includes(':') ? `[${s.remoteAddress}]` : s.remoteAddress}:${s.remotePort ?? '?'}` : null

/**
 * Refusals name the client's address and the reason (never certificate contents but its serial).
 * Node refuses silently; refuseInSecureConnection() hands bad certificates to us instead. At most
 * 1000 are logged per worker.
 */
function logRefusals(server: Server, log: Log): void {
  refuseInSecureConnection(server)
  let count = 0
  // The address is noted when the TCP connection arrives: a socket that fails later may have lost it.
  server.prependListener('connection', (raw: Socket & { [kPeer]?: string }) => {
    raw[kPeer] = peerOf(raw) ?? '?'
  })
  const addressOf = (sock: TLSSocket): string => {
    const parent = (sock as TLSSocket & { _parent?: { [kPeer]?: string } })._parent
    return peerOf(sock) ?? parent?.[kPeer] ?? '?'
  }
  const refused = (sock: TLSSocket, reason: string, code: string | undefined): void => {
    count++
    if (count > 1000) return
    let who = ''
    try {
      const c = sock.getPeerCertificate()
      if (c?.serialNumber)
        who = ` (certificate serial ${c.serialNumber.toUpperCase()}${c.subject?.CN ? `, CN ${Array.isArray(c.subject.CN) ? c.subject.CN[0] : c.subject.CN}` : ''})`
    } catch {
      /* no certificate */
    }
    log('warn', `refused TLS client ${addressOf(sock)}: ${reason}${who} [${code ?? 'no code'}]`)
  }
  server.prependListener('secureConnection', (sock: TLSSocket) => {
    if (sock.authorized) return
    const code = sock.authorizationError ? String(sock.authorizationError) : undefined
    refused(sock, refusalReason(code), code)
    sock.destroy()
  })
  server.on('tlsClientError', (err, sock) => {
    const code = (err as NodeJS.ErrnoException).code
    refused(sock, refusalReason(code ?? err.message), code)
  })
}

/**
 * Keeps the listener's identity current: a reissued server certificate (`provision server-cert`,
 * after a network change) is picked up without a restart — one that does not match the key beside it
 * is not — and a changed CRL is reloaded (`onCrl` re-reads the revoked serials first).
 */
export class IdentityWatch {
  #identity: DeviceIdentity
  readonly #server: Server
  readonly #dataDir: string
  readonly #log: Log
  readonly #onCrl: () => void
  readonly #deviceCertPath: string
  readonly #crlPath: string

  constructor(server: Server, dataDir: string, identity: DeviceIdentity, log: Log, onCrl: () => void) {
    this.#server = server
    this.#dataDir = dataDir
    this.#identity = identity
    this.#log = log
    this.#onCrl = onCrl
    this.#deviceCertPath = join(dataDir, 'identity', 'device-cert.pem')
    this.#crlPath = identity.crlPath
  }

  start(pollMs: number): void {
    watchFile(this.#deviceCertPath, { interval: pollMs, persistent: false }, () => this.#reloadCertificate())
    watchFile(this.#crlPath, { interval: pollMs, persistent: false }, () => {
      this.reloadCrl()
      this.#log('info', 'revocation list reloaded')
    })
  }

  /** Re-reads the revoked serials and applies the CRL to new handshakes. */
  reloadCrl(): void {
    this.#onCrl()
    try {
      this.#server.setSecureContext(tlsOptions(this.#identity))
    } catch (e) {
      this.#log('error', `cannot apply the CRL: ${(e as Error).message}`)
    }
  }

  #reloadCertificate(): void {
    try {
      const next = loadIdentity(this.#dataDir)
      if (!new X509Certificate(next.deviceCertPem).checkPrivateKey(createPrivateKey(next.deviceKeyPem)))
        throw new Error('the certificate does not match the device key')
      this.#server.setSecureContext(tlsOptions(next))
      this.#identity = next
      this.#log('info', `server certificate reloaded (${new X509Certificate(next.deviceCertPem).subjectAltName ?? 'no names'})`)
    } catch (e) {
      this.#log('error', `cannot reload the server certificate: ${(e as Error).message}; keeping the previous one`)
    }
  }

  stop(): void {
    unwatchFile(this.#crlPath)
    unwatchFile(this.#deviceCertPath)
  }
}

/**
 * Binds the listener. A kernel without IPv6 cannot bind "::"; with `hostFallback` (the host was
 * defaulted) the listener then binds all IPv4 addresses. Resolves with the bound port and address.
 */
export async function listenApi(server: Server, port: number, host: string, hostFallback: boolean): Promise<{ port: number; host: string }> {
  const listen = (h: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, h, () => {
        server.off('error', reject)
        resolve()
      })
    })
  try {
    await listen(host)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    try {
      if (!hostFallback || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw e
      await listen('0.0.0.0')
    } catch (e2) {
      const c2 = (e2 as NodeJS.ErrnoException).code ?? 'error'
      throw new FirmwareError(
        'FW_ERR_IO',
        `the API cannot listen on port ${port} (${c2}); another service may hold it: change api.port in the board profile or stop that service`,
      )
    }
  }
  const addr = server.address()
  return { port: typeof addr === 'object' && addr ? addr.port : port, host: typeof addr === 'object' && addr ? addr.address : host }
}
