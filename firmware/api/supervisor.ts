// The API worker's supervisor, on the main thread. It starts the worker (worker.ts), answers its
// questions (commands through the registry, the event journal, meters), pings it, and replaces one
// that exits, throws, runs out of heap or stops answering the ping — on the same port, with the same
// identity and the CRL as it is on disk — after a backoff (RestartBackoff). Requests in flight in a
// dead worker lose their connection; a command they had already asked for finishes here once and its
// answer is dropped (a new worker never sees an old worker's answers). The schedule and the hang
// judgement are in restart-policy.ts.
import { Worker } from 'node:worker_threads'
import type { CommandResult, RegistryForApi } from '../commands/types.ts'
import type { ApplianceApi } from '../contract/appliance.ts'
import { ERRORS, type ErrorCode, FirmwareError } from '../errors.ts'
import type { EventJournal, JournalEntry } from '../transport/event-journal.ts'
import type { FromWorker, ToWorker, WorkerConfig, WorkerSupervision } from './messages.ts'
import { openApiText } from './openapi.ts'
import { type ApiStats, Liveness, RestartBackoff, type RestartPolicy } from './restart-policy.ts'
import { liteSpecs } from './routes.ts'

/** One worker and what the main side keeps for it; a restart makes a new one. */
interface WorkerLife {
  worker: Worker
  alive: boolean
  /** performance.now() of the last pong (or of readiness). */
  lastPong: number
  /** The message of an uncaught error, if it threw. */
  error: string | null
  /** Terminated by the supervisor because it stopped answering. */
  hung: boolean
  unsubscribe: (() => void) | null
  meterTimer: NodeJS.Timeout | null
  acks: Map<number, () => void>
  readyAt: number
}

type Ready = Extract<FromWorker, { t: 'ready' }>
type Report = (level: 'info' | 'warn' | 'error', message: string) => void

export interface SupervisorDeps {
  app: ApplianceApi
  registry: RegistryForApi
  journal: EventJournal
  /** The first worker's config; a restart binds exactly what the first one bound. */
  base: WorkerConfig
  policy: RestartPolicy
  maxHeapMb: number
  /** Where crashes and restarts are reported (api.log and the appliance log). */
  report: Report
}

export class WorkerSupervisor {
  readonly #d: SupervisorDeps
  readonly #backoff: RestartBackoff
  readonly #liveness: Liveness
  readonly stats: ApiStats
  #current: WorkerLife | null = null
  #stopping = false
  #restartTimer: NodeJS.Timeout | null = null
  #starting: Promise<void> | null = null
  #nextAck = 1
  readonly #timers: NodeJS.Timeout[] = []
  /** Set from the first worker's ready message; a restart keeps both. */
  port: number
  files: { audit: string; refused: string; log: string }

  constructor(d: SupervisorDeps, files: { audit: string; refused: string; log: string }) {
    this.#d = d
    this.#backoff = new RestartBackoff(d.policy)
    this.#liveness = new Liveness(d.policy.pingMs, d.policy.hangMs, performance.now())
    this.stats = { state: 'restarting', restarts: 0, crashes: 0, hangs: 0, failedStarts: 0, upSince: null, last: null, nextDelayMs: this.#backoff.nextDelayMs }
    this.port = d.base.port
    this.files = files
  }

  /** Starts the first worker: a failure here (port taken, no identity) is the caller's error. */
  async start(): Promise<void> {
    const first = await this.#spawn(this.#d.base)
    if (!first.life.alive) throw new FirmwareError('FW_ERR_IO', 'the API worker exited as soon as it was listening; see api.log')
    this.#adopt(first.life, first.ready)
    // More commands may be registered later (inference, store): send the new list when it changes.
    let knownCount = this.#d.registry.list().length
    this.#every(1000, () => {
      const n = this.#d.registry.list().length
      if (n !== knownCount && this.#current) {
        knownCount = n
        this.#send(this.#current, { t: 'specs', specs: liteSpecs(this.#d.registry, this.#d.app), openapi: openApiText(this.#d.registry) })
      }
    })
    this.#every(this.#d.policy.pingMs, () => this.#ping())
  }

  #every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms)
    t.unref()
    this.#timers.push(t)
  }

  /** The worker serving now, or null between workers. */
  get worker(): Worker | null {
    return this.#current?.worker ?? null
  }

  /** Sends to the serving worker, if any. */
  tell(m: ToWorker): void {
    if (this.#current) this.#send(this.#current, m)
  }

  #send(life: WorkerLife, m: ToWorker): void {
    if (!life.alive) return
    try {
      life.worker.postMessage(m)
    } catch {
      /* the worker is going away; its exit is handled */
    }
  }

  /** Re-reads the CRL in the serving worker; between workers there is nothing to do (the next one reads it as it starts). */
  reloadCrl(): Promise<void> {
    return new Promise<void>((resolve) => {
      const life = this.#current
      if (!life?.alive) {
        resolve()
        return
      }
      const id = this.#nextAck++
      life.acks.set(id, resolve)
      this.#send(life, { t: 'reloadCrl', id })
    })
  }

  // Liveness: ping the worker; one that has not answered for hangMs is terminated (its exit then
  // restarts it).
  #ping(): void {
    const now = performance.now()
    const life = this.#current
    const usable = life?.alive && !life.hung ? life : null
    const v = this.#liveness.tick(now, usable ? usable.lastPong : null)
    if (!usable || !v) return
    usable.lastPong = v.lastPong
    if (v.hung) {
      usable.hung = true
      this.#d.report('error', `API worker has not answered for ${Math.round(now - usable.lastPong)} ms; terminating it`)
      void usable.worker.terminate()
      return
    }
    this.#send(usable, { t: 'ping' })
  }

  // A worker's own messages. Answers always go back to the worker that asked: ids restart at 1 in a
  // new worker, so an old worker's answer must never reach a new one.
  #onMessage(life: WorkerLife, m: FromWorker): void {
    switch (m.t) {
      case 'execute': {
        Promise.resolve()
          .then(() => this.#d.registry.execute(m.command, m.args, m.principal))
          .catch((e: unknown): CommandResult => ({ ok: false, command: m.command, code: 'FW_ERR_COMMAND_FAILED', message: (e as Error).message }))
          .then((result) => {
            if (!this.#stopping) this.#send(life, { t: 'result', id: m.id, result })
          })
          .catch(() => {
            // the worker is gone: its answer has no one to go to (a new worker asks again)
          })
        break
      }
      case 'streams':
        this.#follow(life, m.wantsEvents, m.metersHz)
        break
      case 'replay':
        this.#send(life, { t: 'replayed', id: m.id, replay: this.#d.journal.since(m.after), last: this.#d.journal.lastId() })
        break
      case 'ack': {
        const a = life.acks.get(m.id)
        life.acks.delete(m.id)
        a?.()
        break
      }
      case 'pong':
        life.lastPong = performance.now()
        break
      default:
        break
    }
  }

  /** Events reach a worker only while it has streams open; meters at the fastest rate asked. */
  #follow(life: WorkerLife, wantsEvents: boolean, metersHz: number): void {
    if (wantsEvents && !life.unsubscribe) {
      life.unsubscribe = this.#d.journal.subscribe((entry: JournalEntry) => this.#send(life, { t: 'event', entry }))
    } else if (!wantsEvents && life.unsubscribe) {
      life.unsubscribe()
      life.unsubscribe = null
    }
    if (life.meterTimer) clearInterval(life.meterTimer)
    life.meterTimer = metersHz > 0 ? setInterval(() => this.#send(life, { t: 'meters', meters: this.#d.app.meters() }), 1000 / metersHz) : null
  }

  // What the main side holds for a worker is released when it exits, whatever the reason.
  #release(life: WorkerLife): void {
    life.alive = false
    if (life.meterTimer) clearInterval(life.meterTimer)
    life.meterTimer = null
    life.unsubscribe?.()
    life.unsubscribe = null
    // A new worker reads the CRL as it is on disk when it starts, so a pending reload is done.
    for (const a of life.acks.values()) a()
    life.acks.clear()
  }

  /** Starts one worker; resolves once it listens. A worker that fails later goes to onDown(). */
  #spawn(cfg: WorkerConfig): Promise<{ life: WorkerLife; ready: Ready }> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./worker.ts', import.meta.url), {
        workerData: { apiWorker: true, config: cfg },
        resourceLimits: { maxOldGenerationSizeMb: this.#d.maxHeapMb },
      })
      const life: WorkerLife = {
        worker,
        alive: true,
        lastPong: performance.now(),
        error: null,
        hung: false,
        unsubscribe: null,
        meterTimer: null,
        acks: new Map(),
        readyAt: 0,
      }
      let settled = false
      const fail = (e: FirmwareError): void => {
        if (settled) return
        settled = true
        clearTimeout(startTimer)
        worker.terminate().then(
          () => reject(e),
          () => reject(e),
        )
      }
      const ms = this.#d.policy.startTimeoutMs
      const startTimer = setTimeout(() => fail(new FirmwareError('FW_ERR_IO', `the API worker did not start listening within ${ms} ms`)), ms)
      startTimer.unref()
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          if (settled) return
          settled = true
          clearTimeout(startTimer)
          life.readyAt = Date.now()
          life.lastPong = performance.now()
          resolve({ life, ready: m })
        } else if (m.t === 'failed') {
          const code = (m.code in ERRORS ? m.code : 'FW_ERR_IO') as ErrorCode
          fail(new FirmwareError(code, m.message))
        } else {
          this.#onMessage(life, m)
        }
      })
      // Always listened to: an 'error' nobody listens to would take the whole process down.
      worker.on('error', (e: Error) => {
        life.error = e.message
        fail(new FirmwareError('FW_ERR_IO', `the API worker failed to start: ${e.message}`))
      })
      worker.on('exit', (code: number) => {
        this.#release(life)
        if (!settled) {
          fail(new FirmwareError('FW_ERR_IO', `the API worker exited during start (code ${code})`))
          return
        }
        this.#onDown(life, code)
      })
    })
  }

  #supervision(): WorkerSupervision {
    const s = this.stats
    return { restarts: s.restarts + 1, crashes: s.crashes, hangs: s.hangs, last: s.last }
  }

  #scheduleRestart(): void {
    if (this.#stopping || this.#restartTimer) return
    const delay = this.#backoff.take()
    this.stats.nextDelayMs = this.#backoff.nextDelayMs
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null
      // stop() waits for an attempt under way, including stopping the worker it may have started.
      const attempt = this.#restart()
      this.#starting = attempt
      attempt
        .finally(() => {
          if (this.#starting === attempt) this.#starting = null
        })
        .catch(() => {})
    }, delay)
  }

  #onDown(life: WorkerLife, code: number): void {
    if (this.#stopping || life !== this.#current) return
    const stats = this.stats
    this.#current = null
    stats.state = 'restarting'
    stats.upSince = null
    const cause = life.hung
      ? `stopped answering for ${this.#d.policy.hangMs} ms (terminated)`
      : life.error !== null
        ? `crashed: ${life.error}`
        : `exited (code ${code})`
    if (life.hung) stats.hangs++
    else stats.crashes++
    stats.last = { at: Date.now(), cause }
    // A worker that served a healthy while fails like a first time: restart fast again.
    this.#backoff.down(Date.now() - life.readyAt)
    stats.nextDelayMs = this.#backoff.nextDelayMs
    this.#d.report('error', `API worker ${cause}; restarting it in ${stats.nextDelayMs} ms on port ${this.port}; the sound is not affected`)
    this.#scheduleRestart()
  }

  #adopt(life: WorkerLife, ready: Ready): void {
    this.#current = life
    this.stats.state = 'up'
    this.stats.upSince = life.readyAt
    this.files = ready.files
    this.port = ready.port
    // A later restart binds exactly what the first worker bound (same port, same address).
    const base = this.#d.base
    base.port = ready.port
    base.host = ready.host
    base.hostFallback = false
  }

  async #restart(): Promise<void> {
    if (this.#stopping) return
    const { registry, app } = this.#d
    const cfg: WorkerConfig = { ...this.#d.base, specs: liteSpecs(registry, app), openapi: openApiText(registry), supervision: this.#supervision() }
    try {
      const { life, ready } = await this.#spawn(cfg)
      if (this.#stopping) {
        await this.#stopWorker(life)
        return
      }
      if (!life.alive) throw new Error('the new worker exited as soon as it was listening')
      this.stats.restarts++
      this.#adopt(life, ready)
      this.#d.report('info', `API worker restarted (restart ${this.stats.restarts}); listening again on port ${ready.port}`)
    } catch (e) {
      this.stats.failedStarts++
      this.#d.report('error', `API worker restart failed: ${(e as Error).message}; trying again in ${this.stats.nextDelayMs} ms`)
      this.#scheduleRestart()
    }
  }

  async #stopWorker(life: WorkerLife): Promise<void> {
    if (life.alive) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          life.worker.off('message', onStopped)
          resolve()
        }, 5000)
        const onStopped = (m: FromWorker): void => {
          if (m.t === 'stopped') {
            clearTimeout(timer)
            life.worker.off('message', onStopped)
            resolve()
          }
        }
        life.worker.on('message', onStopped)
        life.worker.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
        this.#send(life, { t: 'stop' })
      })
    }
    this.#release(life)
    await life.worker.terminate()
  }

  /** Stops for good: no restart is scheduled or started afterwards. */
  async stop(): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.stats.state = 'stopped'
    for (const t of this.#timers) clearInterval(t)
    if (this.#restartTimer) clearTimeout(this.#restartTimer)
    this.#restartTimer = null
    await this.#starting
    const life = this.#current
    this.#current = null
    if (life) await this.#stopWorker(life)
  }
}
