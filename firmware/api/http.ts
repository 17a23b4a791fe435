// Replies and error mapping for the API worker: the coded HTTP error every refusal throws, the JSON
// reply, the bounded body reader, and the status a command's error code maps to. No state.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ErrorCode } from '../errors.ts'

/** The HTTP status of a command's error code (anything else is 500). */
export const STATUS_FOR: Partial<Record<ErrorCode, number>> = {
  FW_ERR_BAD_ARG: 400,
  FW_ERR_API_BAD_REQUEST: 400,
  FW_ERR_UNKNOWN_COMMAND: 404,
  FW_ERR_PERMISSION: 403,
  FW_ERR_CONFIRM_REQUIRED: 409,
  FW_ERR_NOT_AVAILABLE: 503,
  FW_ERR_PRESET_NOT_FOUND: 404,
  FW_ERR_PRESET_NAME: 400,
  FW_ERR_RATE_LIMITED: 429,
  // Issue 15: an AES67 stream that cannot be added or removed now (slot, port, name), or a profile stream.
  FW_ERR_AES67_STREAM: 409,
  FW_ERR_AES67_STATIC: 409,
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' }

/** A refusal as the client sees it: status, stable code, message, the field at fault, extra headers. */
export class HttpError extends Error {
  readonly status: number
  readonly code: ErrorCode
  readonly field: string | undefined
  /** Headers the reply carries (retry-after, allow, upgrade). */
  readonly headers: Record<string, string>
  constructor(status: number, code: ErrorCode, message: string, field?: string, headers: Record<string, string> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.field = field
    this.headers = headers
  }
}

/** The reply of a refusal: body and headers (a 413 also closes the connection: the body is unread). */
export function errorReply(e: HttpError): { body: Record<string, unknown>; headers: Record<string, string> } {
  const body: Record<string, unknown> = { ok: false, code: e.code, message: e.message }
  if (e.field) body.field = e.field
  const headers: Record<string, string> = { ...e.headers }
  if (headers.upgrade) headers.connection = 'upgrade'
  if (e.status === 413) headers.connection = 'close'
  return { body, headers }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

/** Refuses a WebSocket upgrade with the same JSON body a request would get, and closes the socket. */
export function refuseUpgrade(socket: Duplex, e: HttpError): void {
  const body = JSON.stringify({ ok: false, code: e.code, message: e.message })
  const headers = e.headers['retry-after'] ? { 'retry-after': e.headers['retry-after'] } : {}
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_TEXT[e.status] ?? 'Error'}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  )
}

/** Reads a request body up to `limit` bytes; a larger one is refused with 413 before or while it arrives. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN)
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, 'FW_ERR_API_TOO_LARGE', `the body is ${declared} bytes; the limit is ${limit} bytes`))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    req.on('data', (c: Buffer) => {
      if (done) return
      size += c.length
      if (size > limit) {
        done = true
        reject(new HttpError(413, 'FW_ERR_API_TOO_LARGE', `the body is over the limit of ${limit} bytes`))
        return
      }
      chunks.push(c)
    })
    req.on('end', () => {
      if (!done) {
        done = true
        resolve(Buffer.concat(chunks))
      }
    })
    req.on('error', (e) => {
      if (!done) {
        done = true
        reject(e)
      }
    })
  })
}

/** The path of a request URL without trailing slashes ("/" for the root). */
export function pathOf(url: URL): string {
  return url.pathname.replace(/\/+$/, '') || '/'
}
