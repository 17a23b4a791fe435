// Signed update bundles. One file holds an image directory and its manifest:
//
//   offset 0       "STGBUNDL"                       8 bytes, magic
//   8              header length H                   u32 big-endian
//   12             header, UTF-8 JSON                H bytes: {manifest, files:[{path,size,sha256,mode}]}
//   12+H           signature length S                u16 big-endian (64; 0 = unsigned)
//   14+H           Ed25519 signature                 S bytes, over bytes [0, 12+H)
//   14+H+S         file contents, in header order    sum of sizes
//
// The signature covers the header, and the header pins every file's SHA-256 and size, so one
// signature check plus a hash pass proves the whole bundle. The device verifies everything (both
// passes) before it writes a byte, and hashes again while extracting in case the file changes.
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import { chmodSync, closeSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from 'node:fs'
import { dirname, join, posix, relative, sep } from 'node:path'
import { RecoveryError } from './errors.ts'
import { compareVersions, isVersion } from './version.ts'

const MAGIC = Buffer.from('STGBUNDL')
const MAX_HEADER = 4 * 1024 * 1024
const CHUNK = 1024 * 1024

export interface BundleManifest {
  format: 'stage-bundle/1'
  /** Board profile name this image is for. */
  board: string
  version: string
  createdAt: string
  /** Free-form description (e.g. the image's version manifest). */
  image?: Record<string, unknown>
}

export interface BundleFile {
  /** Relative POSIX path inside the image. */
  path: string
  size: number
  sha256: string
  /** Unix permission bits (e.g. 0o755 for the binary). */
  mode: number
}

export interface BundleHeader {
  manifest: BundleManifest
  files: BundleFile[]
}

function loadKey(path: string, kind: 'private' | 'public'): KeyObject {
  let pem: Buffer
  try {
    pem = readFileSync(path)
  } catch (e) {
    throw new RecoveryError(
      'REC_ERR_KEY',
      `cannot read the ${kind} update key ${path} (${(e as NodeJS.ErrnoException).code}); ${
        kind === 'public'
          ? "install the release key's public half there (the board profile's recovery.publicKey); for development make a pair with: recovery bundle keygen --out-dir DIR"
          : 'give the Ed25519 private key the release is signed with (for development: recovery bundle keygen --out-dir DIR)'
      }`,
    )
  }
  let key: KeyObject
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem)
  } catch {
    throw new RecoveryError('REC_ERR_KEY', `${path} is not a PEM ${kind} key`)
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new RecoveryError('REC_ERR_KEY', `${path} is a ${key.asymmetricKeyType} key; update keys are Ed25519`)
  return key
}

// A unit run from its image directory keeps its data under lib/.data: that is not part of an image.
const notInImage = new Set(['.data', '.build'])

function listFiles(root: string, dir = root): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    if (notInImage.has(name)) continue
    const p = join(dir, name)
    const st = lstatSync(p)
    if (st.isDirectory()) out.push(...listFiles(root, p))
    else if (st.isFile()) out.push(relative(root, p).split(sep).join('/'))
    // Symlinks and devices are not carried: an image is plain files.
  }
  return out
}

function hashFile(path: string): string {
  const h = createHash('sha256')
  const fd = openSync(path, 'r')
  const buf = Buffer.alloc(CHUNK)
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null)
      if (n === 0) break
      h.update(buf.subarray(0, n))
    }
  } finally {
    closeSync(fd)
  }
  return h.digest('hex')
}

export interface CreateBundleOptions {
  /** The image directory to pack (as made by npm run build:image). */
  imageDir: string
  board: string
  version: string
  /** Ed25519 private key (PEM, PKCS#8): the release signing key (development: bundle keygen). */
  privateKeyPath: string
  out: string
  image?: Record<string, unknown>
}

/** Packs and signs an image directory into a bundle file. Returns the header. */
export function createBundle(o: CreateBundleOptions): BundleHeader {
  if (!isVersion(o.version)) throw new RecoveryError('REC_ERR_USAGE', `version "${o.version}" is not MAJOR.MINOR.PATCH`)
  const key = loadKey(o.privateKeyPath, 'private')
  const files: BundleFile[] = listFiles(o.imageDir).map((path) => {
    const full = join(o.imageDir, path)
    const st = statSync(full)
    return { path, size: st.size, sha256: hashFile(full), mode: st.mode & 0o777 }
  })
  const manifest: BundleManifest = { format: 'stage-bundle/1', board: o.board, version: o.version, createdAt: new Date().toISOString() }
  if (o.image) manifest.image = o.image
  const header: BundleHeader = { manifest, files }
  const headerBuf = Buffer.from(JSON.stringify(header))
  const prefix = Buffer.alloc(12)
  MAGIC.copy(prefix, 0)
  prefix.writeUInt32BE(headerBuf.length, 8)
  const signed = Buffer.concat([prefix, headerBuf])
  const sig = sign(null, signed, key)
  const sigLen = Buffer.alloc(2)
  sigLen.writeUInt16BE(sig.length)
  mkdirSync(dirname(o.out), { recursive: true })
  const fd = openSync(o.out, 'w', 0o644)
  try {
    writeSync(fd, Buffer.concat([signed, sigLen, sig]))
    const buf = Buffer.alloc(CHUNK)
    for (const f of files) {
      const src = openSync(join(o.imageDir, f.path), 'r')
      try {
        for (;;) {
          const n = readSync(src, buf, 0, CHUNK, null)
          if (n === 0) break
          writeSync(fd, buf, 0, n)
        }
      } finally {
        closeSync(src)
      }
    }
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  return header
}

export interface VerifyOptions {
  /** Ed25519 public key (PEM, SPKI): the release key's public half, put on the unit at the factory. */
  publicKeyPath: string
  /** This unit's board profile name; a bundle for another board is refused. */
  board: string
  /** The installed (active) firmware version; the bundle must be newer. Null when nothing is installed. */
  installedVersion: string | null
}

export interface VerifiedBundle {
  path: string
  header: BundleHeader
  /** Byte offset of the first file's contents. */
  dataOffset: number
}

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length)
  let got = 0
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got)
    if (n === 0) break
    got += n
  }
  return buf.subarray(0, got)
}

function checkHeader(raw: unknown, file: string): BundleHeader {
  const bad = (msg: string): never => {
    throw new RecoveryError('REC_ERR_BUNDLE_FORMAT', `${file}: ${msg}`)
  }
  if (typeof raw !== 'object' || raw === null) bad('header is not an object')
  const h = raw as Record<string, unknown>
  const m = h.manifest as Record<string, unknown> | undefined
  if (m?.format !== 'stage-bundle/1') bad('manifest format is not stage-bundle/1')
  if (typeof m!.board !== 'string' || typeof m!.version !== 'string' || !isVersion(m!.version)) bad('manifest needs a board and a MAJOR.MINOR.PATCH version')
  if (!Array.isArray(h.files)) bad('header has no file list')
  const seen = new Set<string>()
  for (const f of h.files as BundleFile[]) {
    if (
      typeof f?.path !== 'string' ||
      f.path.length === 0 ||
      f.path.startsWith('/') ||
      f.path.includes('\\') ||
      posix.normalize(f.path) !== f.path ||
      f.path.split('/').includes('..')
    ) {
      bad(`unsafe file path ${JSON.stringify(f?.path)}`)
    }
    if (seen.has(f.path)) bad(`file ${f.path} listed twice`)
    seen.add(f.path)
    if (!Number.isSafeInteger(f.size) || f.size < 0) bad(`file ${f.path} has a bad size`)
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) bad(`file ${f.path} has a bad hash`)
    if (!Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o777) bad(`file ${f.path} has a bad mode`)
  }
  return raw as BundleHeader
}

/**
 * Verifies a bundle completely without writing anything: format, length, signature, board,
 * version, and every file's hash. Throws a RecoveryError naming what is wrong.
 */
export function verifyBundle(path: string, o: VerifyOptions): VerifiedBundle {
  const key = loadKey(o.publicKeyPath, 'public')
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    throw new RecoveryError('REC_ERR_IO', `cannot open bundle ${path} (${(e as NodeJS.ErrnoException).code})`)
  }
  try {
    const size = fstatSync(fd).size
    const truncated = (what: string): never => {
      throw new RecoveryError('REC_ERR_BUNDLE_TRUNCATED', `${path} is truncated (${what}); copy the bundle again`)
    }
    const prefix = readExactly(fd, 12, 0)
    if (prefix.length >= MAGIC.length && !prefix.subarray(0, 8).equals(MAGIC)) {
      throw new RecoveryError('REC_ERR_BUNDLE_FORMAT', `${path} is not an update bundle (bad magic)`)
    }
    if (prefix.length < 12) truncated(`${size} bytes`)
    const headerLen = prefix.readUInt32BE(8)
    if (headerLen === 0 || headerLen > MAX_HEADER) throw new RecoveryError('REC_ERR_BUNDLE_FORMAT', `${path}: header length ${headerLen} is out of range`)
    if (size < 12 + headerLen + 2) truncated('inside the header')
    const headerBuf = readExactly(fd, headerLen, 12)
    const sigLen = readExactly(fd, 2, 12 + headerLen).readUInt16BE(0)
    if (sigLen === 0) throw new RecoveryError('REC_ERR_BUNDLE_UNSIGNED', `${path} is not signed; only bundles signed with the update key can be installed`)
    if (sigLen !== 64) throw new RecoveryError('REC_ERR_BUNDLE_FORMAT', `${path}: signature length ${sigLen} is not an Ed25519 signature`)
    if (size < 14 + headerLen + sigLen) truncated('inside the signature')
    const sig = readExactly(fd, sigLen, 14 + headerLen)
    if (!verify(null, Buffer.concat([prefix, headerBuf]), key, sig)) {
      throw new RecoveryError(
        'REC_ERR_BUNDLE_SIGNATURE',
        `${path}: the signature does not verify with ${o.publicKeyPath}; the bundle was altered or signed with another key`,
      )
    }
    let raw: unknown
    try {
      raw = JSON.parse(headerBuf.toString('utf8'))
    } catch {
      throw new RecoveryError('REC_ERR_BUNDLE_FORMAT', `${path}: the signed header is not JSON`)
    }
    const header = checkHeader(raw, path)
    const dataOffset = 14 + headerLen + sigLen
    const expected = dataOffset + header.files.reduce((s, f) => s + f.size, 0)
    if (size < expected) truncated(`${size} of ${expected} bytes`)
    if (size > expected) throw new RecoveryError('REC_ERR_BUNDLE_TAMPERED', `${path} has ${size - expected} bytes after its signed contents; refusing it`)
    const m = header.manifest
    if (m.board !== o.board) {
      throw new RecoveryError('REC_ERR_BUNDLE_BOARD', `${path} is built for board "${m.board}" but this unit is "${o.board}"; use the bundle for ${o.board}`)
    }
    if (o.installedVersion !== null && compareVersions(m.version, o.installedVersion) <= 0) {
      throw new RecoveryError(
        'REC_ERR_BUNDLE_DOWNGRADE',
        `${path} holds version ${m.version}, not newer than the installed ${o.installedVersion}; downgrades are refused (use "rollback" to return to the previous slot)`,
      )
    }
    let offset = dataOffset
    const buf = Buffer.alloc(CHUNK)
    let imageManifest: Buffer | null = null
    for (const f of header.files) {
      const h = createHash('sha256')
      const keep = f.path === 'manifest.json' && f.size <= MAX_HEADER ? ([] as Buffer[]) : null
      let left = f.size
      while (left > 0) {
        const n = readSync(fd, buf, 0, Math.min(CHUNK, left), offset)
        if (n === 0) truncated(`in ${f.path}`)
        h.update(buf.subarray(0, n))
        keep?.push(Buffer.from(buf.subarray(0, n)))
        offset += n
        left -= n
      }
      if (h.digest('hex') !== f.sha256) {
        throw new RecoveryError('REC_ERR_BUNDLE_TAMPERED', `${path}: ${f.path} does not match its signed hash; the bundle was altered`)
      }
      if (keep) imageManifest = Buffer.concat(keep)
    }
    // The firmware reports the version in its image's manifest.json: a bundle that names another
    // one could never be confirmed healthy (and would roll back after its tries).
    if (imageManifest !== null) {
      let v: unknown
      try {
        v = (JSON.parse(imageManifest.toString('utf8')) as { version?: unknown }).version
      } catch {
        v = undefined
      }
      if (typeof v === 'string' && v !== m.version) {
        throw new RecoveryError(
          'REC_ERR_BUNDLE_FORMAT',
          `${path} says version ${m.version} but its image's manifest.json says ${v}; the firmware would report ${v} and the update could never be confirmed; rebuild the bundle without --version`,
        )
      }
    }
    return { path, header, dataOffset }
  } finally {
    closeSync(fd)
  }
}

/**
 * Writes a verified bundle's files under `dir` (which must not exist yet), hashing again as it
 * goes; throws REC_ERR_BUNDLE_TAMPERED if the file changed since verification.
 */
export function extractBundle(v: VerifiedBundle, dir: string): void {
  mkdirSync(dir, { recursive: true })
  const fd = openSync(v.path, 'r')
  const buf = Buffer.alloc(CHUNK)
  let offset = v.dataOffset
  try {
    for (const f of v.header.files) {
      const target = join(dir, ...f.path.split('/'))
      mkdirSync(dirname(target), { recursive: true })
      const out = openSync(target, 'w', 0o600)
      const h = createHash('sha256')
      try {
        let left = f.size
        while (left > 0) {
          const n = readSync(fd, buf, 0, Math.min(CHUNK, left), offset)
          if (n === 0) throw new RecoveryError('REC_ERR_BUNDLE_TRUNCATED', `${v.path} shrank while it was being installed`)
          h.update(buf.subarray(0, n))
          writeSync(out, buf, 0, n)
          offset += n
          left -= n
        }
        fsyncSync(out)
      } finally {
        closeSync(out)
      }
      if (h.digest('hex') !== f.sha256) throw new RecoveryError('REC_ERR_BUNDLE_TAMPERED', `${v.path} changed while it was being installed (${f.path})`)
      chmodSync(target, f.mode)
    }
  } finally {
    closeSync(fd)
  }
}
