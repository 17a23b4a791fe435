// curl as a real TLS client, spawned asynchronously: the API under test runs in the same process,
// so a synchronous spawn would block the server it is talking to.
import { spawn } from 'node:child_process'

export function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('curl', ['-sS', '--max-time', '10', ...args])
    let out = ''
    let err = ''
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    p.on('close', (code) => resolve({ code: code ?? -1, out, err }))
  })
}
