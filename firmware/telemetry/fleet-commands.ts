// Commands from the fleet, over the telemetry link. Off unless an admin turns them on
// (`telemetry on ... commands=on`). MQTT does not say who published a message, so a request carries
// its own proof: it is signed with the private key of a crew certificate THIS unit issued, and the
// unit checks the certificate (issued by its operator CA, in its validity, not revoked), the
// signature, and the freshness (within 60 s, an id not seen before). Then the command runs on the
// one registry with the certificate's role, capped at operate (never admin), never a destructive
// command, and every request, refused or run, is written to the audit (logs/fleet-audit.jsonl,
// the API's format).
//
// Request (on <root>/cmd/request):  {"cert": PEM, "body": base64(JSON {id, command, args, at}), "sig": base64 ECDSA/SHA-256 of the body bytes}
// Reply   (on <root>/cmd/reply):    {"id", "ok": true, "value"} | {"id", "ok": false, "code", "message"}
import { createVerify, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { CommandRegistry } from '../commands/registry.ts'
import type { Permission, Principal } from '../commands/types.ts'
import { identityPaths } from '../secrets/identity.ts'
import type { AuditLog } from '../transport/audit.ts'

export const FRESH_MS = 60_000

export interface FleetReply {
  id: string | null
  ok: boolean
  value?: unknown
  code?: string
  message?: string
}

export interface FleetRequestBody {
  id: string
  command: string
  args: Record<string, unknown>
  /** ms since the epoch when it was signed. */
  at: number
}

const ROLE_PERMISSION: Record<string, Permission> = { observer: 'observe', operator: 'operate', admin: 'operate' }

/** Serials (upper-case hex, no leading zeros) the unit's CA database marks revoked. */
function revokedSerials(dataDir: string): Set<string> {
  const out = new Set<string>()
  let text = ''
  try {
    text = readFileSync(identityPaths(dataDir).caIndex, 'utf8')
  } catch {
    return out
  }
  for (const line of text.split('\n')) {
    const [flag, , , serial] = line.split('\t')
    if (flag === 'R' && serial) out.add(serial.toUpperCase().replace(/^0+(?=.)/, ''))
  }
  return out
}

export class FleetCommands {
  readonly #registry: CommandRegistry
  readonly #dataDir: string
  readonly #caPem: string
  readonly #audit: AuditLog | null
  readonly #seen = new Map<string, number>()
  readonly #now: () => number

  constructor(registry: CommandRegistry, dataDir: string, caPem: string, audit: AuditLog | null, now: () => number = Date.now) {
    this.#registry = registry
    this.#dataDir = dataDir
    this.#caPem = caPem
    this.#audit = audit
    this.#now = now
  }

  /** Verifies and runs one request; always returns the reply to publish. */
  async handle(payload: Buffer, topic: string): Promise<FleetReply> {
    let who: { cn: string; serial: string; role: string } | null = null
    let body: FleetRequestBody | null = null
    // The id the sender claims, only to say which request a refusal answers (nothing else trusts it).
    let claimedId: string | null = null
    const refuse = (message: string, code = 'FW_ERR_FLEET_REFUSED'): FleetReply => {
      this.#write(topic, who, body, 403, code)
      return { id: body?.id ?? claimedId, ok: false, code, message }
    }
    let req: { cert?: unknown; body?: unknown; sig?: unknown }
    try {
      req = JSON.parse(payload.toString('utf8')) as typeof req
    } catch {
      return refuse('the request is not JSON')
    }
    if (typeof req.cert !== 'string' || typeof req.body !== 'string' || typeof req.sig !== 'string') return refuse('the request needs cert, body and sig')
    try {
      const id = (JSON.parse(Buffer.from(req.body, 'base64').toString('utf8')) as { id?: unknown }).id
      if (typeof id === 'string' && id.length <= 64) claimedId = id
    } catch {
      // no id to answer with
    }
    let cert: X509Certificate
    try {
      cert = new X509Certificate(req.cert)
    } catch {
      return refuse('the certificate does not parse')
    }
    const ca = new X509Certificate(this.#caPem)
    const field = (k: string) => new RegExp(`(?:^|\\n)${k}=([^\\n]*)`).exec(cert.subject)?.[1] ?? ''
    who = { cn: field('CN'), serial: cert.serialNumber.toUpperCase().replace(/^0+(?=.)/, ''), role: field('OU') }
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return refuse('the certificate was not issued by this unit')
    const now = this.#now()
    if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return refuse('the certificate is not valid now')
    if (revokedSerials(this.#dataDir).has(who.serial)) return refuse(`certificate ${who.serial} has been revoked`)
    const bodyBytes = Buffer.from(req.body, 'base64')
    const v = createVerify('sha256')
    v.update(bodyBytes)
    if (!v.verify(cert.publicKey, Buffer.from(req.sig, 'base64'))) return refuse('the signature does not verify')
    try {
      body = JSON.parse(bodyBytes.toString('utf8')) as FleetRequestBody
    } catch {
      return refuse('the signed body is not JSON')
    }
    if (typeof body.id !== 'string' || body.id.length === 0 || body.id.length > 64 || typeof body.command !== 'string' || typeof body.at !== 'number') {
      return refuse('the signed body needs id, command and at')
    }
    if (Math.abs(now - body.at) > FRESH_MS) return refuse('the request is not fresh (signed more than 60 s from now)')
    for (const [id, at] of this.#seen) if (at < now - 2 * FRESH_MS) this.#seen.delete(id)
    const key = `${who.serial}/${body.id}`
    if (this.#seen.has(key)) return refuse('the request was already received (replay)')
    this.#seen.set(key, now)
    const permission = ROLE_PERMISSION[who.role]
    if (!permission) return refuse(`role ${who.role || '(none)'} may not send commands`)
    const spec = this.#registry.get(body.command)
    if (spec && (spec.destructive || spec.permission === 'admin')) return refuse(`${spec.name} is never available from the fleet`)
    const principal: Principal = { name: `fleet:CN=${who.cn}`, permission, transport: 'fleet' }
    const args = body.args && typeof body.args === 'object' && !Array.isArray(body.args) ? body.args : {}
    let r: Awaited<ReturnType<CommandRegistry['execute']>>
    try {
      r = await this.#registry.execute(body.command, args, principal)
    } catch (e) {
      r = { ok: false, command: body.command, code: 'FW_ERR_COMMAND_FAILED', message: (e as Error).message }
    }
    this.#write(topic, who, body, r.ok ? 200 : 400, r.ok ? 'ok' : r.code)
    return r.ok ? { id: body.id, ok: true, value: r.value ?? null } : { id: body.id, ok: false, code: r.code, message: r.message }
  }

  #write(topic: string, who: { cn: string; serial: string; role: string } | null, body: FleetRequestBody | null, status: number, result: string): void {
    try {
      this.#audit?.write({
        at: new Date().toISOString(),
        who,
        remote: 'mqtt',
        method: 'MQTT',
        path: topic,
        command: body?.command ?? null,
        args: body?.args && typeof body.args === 'object' ? body.args : null,
        status,
        result,
      })
    } catch {
      // auditing never takes telemetry down
    }
  }
}
