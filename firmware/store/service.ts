// The store as a runtime service: opens the store in the board's data directory, reports health
// for recovery, registers the preset commands, and applies the boot preset. The integrator adds
// it to startAppliance's services: `services: [storeService({ registry })]`.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { CommandRegistry } from '../commands/registry.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { registerPresetCommands } from './commands.ts'
import { HealthReporter, healthFilePath } from './health.ts'
import { openStore, type Store } from './index.ts'
import { applyPreset } from './presets.ts'
import type { DurableSettings } from './settings.ts'

export interface StoreServiceOptions {
  /** Registers `preset list|save|load|delete` here (replacing the placeholders). */
  registry?: CommandRegistry
  /** Health report period while the state is unchanged. Defaults to 2000 ms. */
  healthIntervalMs?: number
  /** Where store warnings go. Defaults to console.warn. */
  log?: (level: 'info' | 'warn', message: string) => void
  /** Receives the open store (for other subsystems' settings). */
  onOpen?: (store: Store) => void
  /**
   * The durable settings already open for this data directory: the service then shares their
   * config and presets (one writer per file) and leaves the boot preset to them.
   */
  settings?: DurableSettings
}

/**
 * The version recovery knows this firmware by: the image's manifest.json beside the single
 * binary, or null when running from source.
 */
export function imageVersion(execPath = process.execPath): string | null {
  const file = join(dirname(execPath), 'manifest.json')
  if (!existsSync(file)) return null
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as { format?: string; version?: unknown }
    return m.format === 'stage-image/1' && typeof m.version === 'string' ? m.version : null
  } catch {
    return null
  }
}

/** Starts reporting `app`'s watchdog state to `reporter`: on every transition and periodically. */
export function reportHealthFrom(app: ApplianceApi, reporter: HealthReporter, intervalMs = 2000): () => Promise<void> {
  void reporter.report(app.status().state)
  const unsubscribe = app.subscribe((ev) => {
    if (ev.type === 'transition') void reporter.report(ev.record.to)
  })
  const timer = setInterval(
    () => {
      void reporter.report(app.status().state)
    },
    Math.max(100, intervalMs / 2),
  )
  timer.unref()
  return async () => {
    unsubscribe()
    clearInterval(timer)
    // A stopped firmware must not read as ACTIVE to recovery or to a person checking the unit.
    await reporter.report('STOPPED')
  }
}

export function storeService(options: StoreServiceOptions = {}): (app: ApplianceApi) => Promise<{ stop(): Promise<void> }> {
  return async (app) => {
    const log =
      options.log ??
      ((level, m) => {
        if (level === 'warn') console.warn(`store: ${m}`)
      })
    const store: Store = options.settings ? { config: options.settings.config, presets: options.settings.presets } : openStore(app.profile.dataDir, log)
    const config = await store.config.load()
    options.onOpen?.(store)
    if (options.registry) registerPresetCommands(options.registry, store.presets)
    if (config.bootPreset && !options.settings) {
      try {
        applyPreset(app, await store.presets.load(config.bootPreset))
      } catch (e) {
        log('warn', `boot preset "${config.bootPreset}" not applied: ${(e as Error).message}`)
      }
    }
    const reporter = new HealthReporter(healthFilePath(app.profile.dataDir), {
      version: imageVersion() ?? app.status().firmwareVersion,
      intervalMs: options.healthIntervalMs ?? 2000,
    })
    const stopHealth = reportHealthFrom(app, reporter, options.healthIntervalMs ?? 2000)
    return { stop: stopHealth }
  }
}
