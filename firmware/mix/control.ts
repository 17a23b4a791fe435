// The mixes as the operator manages them: profiles kept in the store (one versioned document,
// <dataDir>/mixes.json, checksummed with its last-known-good copy), each with a revision that
// every change bumps, and which of them are published to which ingest. Publishing is an
// operator action; a published profile streams (firmware/mix/streams.ts) and comes back
// published after a restart. A refused change (FW_ERR_MIX_PROFILE / FW_ERR_MIX_STREAM) changes
// nothing: neither the document nor the streams.
import { join } from 'node:path'
import { FirmwareError } from '../errors.ts'
import { type DocumentSchema, defaultStoreLogger, StoredDocument, type StoreLogger } from '../store/document.ts'
import { type MixProfile, validateProfile } from './profile.ts'
import { type MixIngest, MixStreams, validateIngest } from './streams.ts'

export interface StoredMix {
  profile: MixProfile
  /** 1 on creation, +1 on every change. */
  revision: number
  /** Milliseconds since the epoch. */
  changedAt: number
  /** Where it streams, or null when not published. */
  published: MixIngest | null
}

interface MixDocument {
  mixes: StoredMix[]
}

const withoutFollow = (p: unknown): unknown => {
  if (typeof p !== 'object' || p === null || !('follow' in p)) return p
  const { follow: _, ...rest } = p as Record<string, unknown>
  return rest
}

export const mixSchema: DocumentSchema<MixDocument> = {
  kind: 'mix-profiles',
  version: 1,
  migrations: {},
  validate(d): MixDocument {
    if (typeof d !== 'object' || d === null || !Array.isArray((d as MixDocument).mixes)) throw new Error('mixes must be a list')
    return {
      mixes: (d as MixDocument).mixes.map((m) => ({
        // A third-round `follow` (a PA beam steered by publishing) is dropped: mixes never move engine beams now.
        profile: validateProfile(withoutFollow(m.profile)),
        revision: Number(m.revision),
        changedAt: Number(m.changedAt),
        published: m.published === null ? null : validateIngest(m.published),
      })),
    }
  },
}

export class MixControl {
  readonly #doc: StoredDocument<MixDocument>
  readonly #streams: MixStreams | null
  #mixes: StoredMix[] = []

  /** streams: null on a unit whose engine has no mix streamer (profiles are still kept). */
  constructor(dataDir: string, streams: MixStreams | null, log: StoreLogger = defaultStoreLogger) {
    this.#doc = new StoredDocument(join(dataDir, 'mixes.json'), mixSchema, log)
    this.#streams = streams
  }

  /** Loads the stored mixes and publishes the ones that were published. */
  async open(): Promise<void> {
    const r = await this.#doc.load()
    this.#mixes = r ? r.data.mixes : []
    for (const m of this.#mixes) {
      if (m.published && this.#streams) this.#streams.publish(m.profile, m.published)
    }
  }

  list(): readonly StoredMix[] {
    return this.#mixes
  }

  get(name: string): StoredMix {
    const m = this.#mixes.find((x) => x.profile.name === name)
    if (!m) throw new FirmwareError('FW_ERR_MIX_STREAM', `no mix profile "${name}"; "mix list" shows them`)
    return m
  }

  /** Creates or replaces a profile (checked first); a published one streams the change at once. */
  async set(input: unknown): Promise<StoredMix> {
    const profile = validateProfile(input)
    const old = this.#mixes.find((x) => x.profile.name === profile.name)
    const next: StoredMix = { profile, revision: (old?.revision ?? 0) + 1, changedAt: Date.now(), published: old?.published ?? null }
    // The streamer first: it refuses (too many tracked sources over the published mixes) before anything is stored.
    if (next.published) this.#streams?.update(profile)
    try {
      await this.#commit(this.#mixes.map((m) => (m === old ? next : m)).concat(old ? [] : [next]))
    } catch (e) {
      if (old && next.published) this.#streams?.update(old.profile)
      throw e
    }
    return next
  }

  async publish(name: string, ingest: Partial<MixIngest>): Promise<StoredMix> {
    const m = this.get(name)
    const checked = validateIngest(ingest)
    if (!this.#streams) throw new FirmwareError('FW_ERR_MIX_STREAM', 'this unit has no mix streamer (the engine build lacks it)')
    this.#streams.publish(m.profile, checked)
    const next: StoredMix = { ...m, published: checked, revision: m.revision + 1, changedAt: Date.now() }
    try {
      await this.#commit(this.#mixes.map((x) => (x === m ? next : x)))
    } catch (e) {
      if (m.published) this.#streams.publish(m.profile, m.published)
      else this.#streams.unpublish(name)
      throw e
    }
    return next
  }

  async unpublish(name: string): Promise<StoredMix> {
    const m = this.get(name)
    if (!m.published) throw new FirmwareError('FW_ERR_MIX_STREAM', `mix "${name}" is not published`)
    this.#streams?.unpublish(name)
    const next: StoredMix = { ...m, published: null, revision: m.revision + 1, changedAt: Date.now() }
    await this.#commit(this.#mixes.map((x) => (x === m ? next : x)))
    return next
  }

  /** The separator slots of the published mixes' tracked sources (none without a streamer). */
  stemSlots(): ReturnType<MixStreams['slots']> {
    return this.#streams?.slots() ?? []
  }

  /** Aims the slots (index = slot); LiveTracking calls it each tick. */
  aimStems(dirs: Array<{ azimuth: number; active: boolean }>): void {
    this.#streams?.setDirections(dirs)
  }

  stats(): ReturnType<MixStreams['stats']> {
    return this.#streams?.stats() ?? null
  }

  stop(): void {
    this.#streams?.stop()
  }

  async #commit(mixes: StoredMix[]): Promise<void> {
    await this.#doc.save({ mixes })
    this.#mixes = mixes
  }
}

/** The mixes of a running unit: the store document in its data directory, the streamer on its
 *  engine (when the engine build has one), published mixes streaming again. */
export async function startMixes(
  app: { profile: { dataDir: string }; engine: { mixPort?: () => import('../engine/engine.ts').MixPort } },
  warn: (message: string) => void,
): Promise<MixControl> {
  let streams: MixStreams | null = null
  try {
    if (app.engine.mixPort) streams = new MixStreams(app.engine.mixPort())
  } catch (e) {
    warn(`no streamer: ${(e as Error).message}`)
  }
  const control = new MixControl(app.profile.dataDir, streams, (level, m) => level === 'warn' && warn(m))
  await control.open().catch((e: Error) => warn(`published mixes stay off: ${e.message}`))
  return control
}
