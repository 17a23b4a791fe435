// Where the device identity lives in the data directory, and how the firmware loads it. Written by
// provisioning/ (the factory step); read by the API at start. Every file here is mode 0600; private
// keys are sealed under the device key (secrets.ts) and exist in plaintext only in memory.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FirmwareError } from '../errors.ts'
import { selfCommand } from '../self.ts'
import { loadDeviceKey, readSealedFile } from './secrets.ts'

export interface IdentityPaths {
  /** Device serial number (text). */
  serial: string
  deviceCert: string
  /** The device's private key, sealed (AES-256-GCM under the device key). */
  deviceKeySealed: string
  caDir: string
  caCert: string
  /** The operator CA's private key, sealed. */
  caKeySealed: string
  /** openssl ca's database: one line per issued certificate. */
  caIndex: string
  /** Certificate revocation list (PEM) that the API checks. */
  crl: string
  /** Default place for the crew's bundles. */
  bundles: string
}

export function identityPaths(dataDir: string): IdentityPaths {
  const id = join(dataDir, 'identity')
  const ca = join(dataDir, 'ca')
  return {
    serial: join(id, 'serial'),
    deviceCert: join(id, 'device-cert.pem'),
    deviceKeySealed: join(id, 'device-key.sealed'),
    caDir: ca,
    caCert: join(ca, 'ca-cert.pem'),
    caKeySealed: join(ca, 'ca-key.sealed'),
    caIndex: join(ca, 'index.txt'),
    crl: join(ca, 'crl.pem'),
    bundles: join(dataDir, 'bundles'),
  }
}

/** AAD purposes for the sealed files, so one cannot be swapped for another. */
export const PURPOSE_DEVICE_KEY = 'identity/device-key'
export const PURPOSE_CA_KEY = 'ca/ca-key'

export interface DeviceIdentity {
  serial: string
  caCertPem: string
  deviceCertPem: string
  /** Plaintext PKCS#8 PEM, in memory only. */
  deviceKeyPem: Buffer
  crlPath: string
}

export function isProvisioned(dataDir: string): boolean {
  const p = identityPaths(dataDir)
  return existsSync(p.deviceCert) && existsSync(p.deviceKeySealed) && existsSync(p.caCert)
}

/** Loads the identity for the API; the device key is unsealed into memory. */
export function loadIdentity(dataDir: string): DeviceIdentity {
  const p = identityPaths(dataDir)
  if (!isProvisioned(dataDir)) {
    throw new FirmwareError('FW_ERR_NOT_PROVISIONED', `no device identity in ${dataDir}; run "${selfCommand()} provision init --data-dir ${dataDir}"`)
  }
  const key = loadDeviceKey(dataDir)
  return {
    serial: readFileSync(p.serial, 'utf8').trim(),
    caCertPem: readFileSync(p.caCert, 'utf8'),
    deviceCertPem: readFileSync(p.deviceCert, 'utf8'),
    deviceKeyPem: readSealedFile(p.deviceKeySealed, key, PURPOSE_DEVICE_KEY),
    crlPath: p.crl,
  }
}
