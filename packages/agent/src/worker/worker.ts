/**
 * The worker loop (SPEC §10): recovery at start and periodically, then: find due work, start sessions (bounded
 * concurrency across workflows, one session per workflow), and sleep until the next due time or until something
 * happens. Nothing busy-loops. `stop()` lets running sessions finish their current run and close, then returns.
 */
import type { SessionTrigger } from '@ledgerflow/db'
import type { EngineContext } from '../context.js'
import { IllegalStateError, WorkflowNotRunnableError, toEngineError } from '../errors.js'
import { findWork, shuffled } from '../scheduler/find-work.js'
import { resumeIncompleteSessions } from '../session/recover.js'
import { executeWorkflowSessionIfIdle } from '../session/run-session.js'
import type { SessionOptions } from '../session/session-result.js'

/** Options of the worker. */
export interface WorkerOptions {
  /** Sessions running at once (each of another workflow). Default 4. */
  concurrency?: number
  /** How often to look for sessions of dead workers, in ms. Default 30000. */
  recoveryIntervalMs?: number
  /**
   * Longest sleep while nothing is due, in ms: catches changes made by other processes (a CLI publish, a deploy).
   * Changes made through this engine wake the worker at once. Default 10000.
   */
  idleCheckMs?: number
  /** At start, treat every open session as orphaned (the only worker of a SQLite file). Default false. */
  forceRecoveryAtStart?: boolean
  /** Budgets of the sessions the worker starts. */
  session?: Omit<SessionOptions, 'trigger'>
}

/** Lifecycle states of a worker. */
export type WorkerState = 'idle' | 'running' | 'stopping' | 'stopped'

/** See the module comment. */
export class Worker {
  state: WorkerState = 'idle'
  readonly #ctx: EngineContext
  readonly #options: Required<Omit<WorkerOptions, 'session'>> & { session: WorkerOptions['session'] }
  readonly #running = new Map<string, Promise<void>>()
  /** Workflows whose last launch hit a fault outside the runs: not launched again before `until`. */
  readonly #backoff = new Map<string, { until: number; delayMs: number }>()
  #starting: Promise<void> | undefined
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  /** A notification that came while the loop was not sleeping: the next sleep returns at once. */
  #notified = false
  #sleep = new AbortController()
  #unsubscribe: Array<() => void> = []

  constructor(ctx: EngineContext, options: WorkerOptions = {}) {
    this.#ctx = ctx
    this.#options = {
      concurrency: Math.max(1, options.concurrency ?? 4),
      recoveryIntervalMs: options.recoveryIntervalMs ?? 30_000,
      idleCheckMs: options.idleCheckMs ?? 10_000,
      forceRecoveryAtStart: options.forceRecoveryAtStart ?? false,
      session: options.session,
    }
  }

  /** Sessions running now, by workflow. */
  get runningWorkflows(): string[] {
    return [...this.#running.keys()]
  }

  /** Recovers orphaned sessions, then starts the loop. */
  async start(): Promise<void> {
    if (this.state === 'running') return
    if (this.state === 'stopping') throw new IllegalStateError('The worker is stopping; wait for stop() before starting it again', { state: this.state })
    this.state = 'running'
    this.#sleep = new AbortController()
    this.#ctx.events.emit('worker:start', { workerId: this.#ctx.config.workerId })
    const wake = () => this.notify()
    const ev = this.#ctx.events
    this.#unsubscribe = [
      ev.on('event:published', (e) => {
        if (!this.#running.has(e.workflowId)) wake()
      }),
      ev.on('workflow:deployed', wake),
      ev.on('workflow:status', (e) => {
        if (e.to === 'active') wake()
      }),
    ]
    this.#starting = this.#recover(this.#options.forceRecoveryAtStart)
    await this.#starting
    this.#starting = undefined
    // A stop() during start-up recovery wins: no loop then.
    if (this.state === 'running') this.#loop = this.#run()
  }

  /** Wakes the loop (something may be due). */
  notify(): void {
    this.#notified = true
    this.#wake?.()
  }

  /** Stops: no new sessions; running ones finish their current run and close. Resolves when all are done. */
  async stop(): Promise<void> {
    if (this.state !== 'running') return
    this.state = 'stopping'
    this.#sleep.abort()
    this.notify()
    // Recovery at start drives sessions too; they stop between runs (the engine's stop signal) and close.
    await this.#starting
    await this.#loop
    await Promise.allSettled([...this.#running.values()])
    for (const off of this.#unsubscribe) off()
    this.state = 'stopped'
    this.#ctx.events.emit('worker:stop', { workerId: this.#ctx.config.workerId, graceful: true })
  }

  async #recover(force: boolean): Promise<void> {
    try {
      await resumeIncompleteSessions(this.#ctx, { force })
    } catch (error) {
      this.#ctx.events.emit('worker:error', { error })
    }
  }

  async #run(): Promise<void> {
    const clock = this.#ctx.clock
    let nextRecovery = clock.now() + this.#options.recoveryIntervalMs
    while (this.state === 'running') {
      if (clock.now() >= nextRecovery) {
        await this.#recover(false)
        nextRecovery = clock.now() + this.#options.recoveryIntervalMs
      }
      const now = clock.now()
      if (this.#running.size >= this.#options.concurrency) {
        // No free slot: nothing found could start. A session that ends wakes the loop (`notify`), which looks then.
        await this.#waitUntil(Math.min(now + this.#options.idleCheckMs, nextRecovery))
        continue
      }
      let nextWakeAt: number | undefined
      let started = 0
      let due = 0
      try {
        // Only as many workflows with pending events are checked as there are free slots, in random order: workers
        // sharing a database then try different workflows first instead of racing for the same session.
        const plan = await findWork(this.#ctx, now, {
          limit: this.#options.concurrency - this.#running.size,
          skip: (id) => this.#running.has(id) || (this.#backoff.get(id)?.until ?? 0) > now,
          order: shuffled,
        })
        nextWakeAt = plan.nextWakeAt
        due = plan.items.length
        for (const item of plan.items) {
          // findWork left out the running and backed-off workflows (`skip`).
          if (this.#running.size >= this.#options.concurrency) break
          this.#launch(item.workflowId, item.trigger)
          started++
        }
      } catch (error) {
        this.#ctx.events.emit('worker:error', { error })
      }
      if (due === 0) this.#ctx.events.emit('scheduler:tick:empty', { nextWakeAt })
      else this.#ctx.events.emit('scheduler:tick', { due, started, nextWakeAt })
      // Only backoffs still running count: an expired one (its workflow no longer due) must not wake the loop at once,
      // again and again.
      const backoffEnds = [...this.#backoff.values()].map((b) => b.until).filter((t) => t > now)
      const until = Math.min(nextWakeAt ?? Infinity, now + this.#options.idleCheckMs, nextRecovery, ...backoffEnds)
      await this.#waitUntil(until)
    }
  }

  #launch(workflowId: string, trigger: SessionTrigger): void {
    const ctx = this.#ctx
    const session = executeWorkflowSessionIfIdle(ctx, workflowId, { ...this.#options.session, trigger })
      .then((result) => {
        this.#backoff.delete(workflowId)
        ctx.events.emit('worker:session', {
          workflowId,
          trigger,
          ...(result ? { result: { status: result.status, error: result.error ?? result.reason, budgetExhausted: result.budgetExhausted } } : {}),
        })
      })
      .catch((error: unknown) => {
        if (error instanceof WorkflowNotRunnableError) return
        // A fault outside the runs (database, engine bug): back off this workflow instead of retrying at once.
        const previous = this.#backoff.get(workflowId)
        const delayMs = previous === undefined ? 1000 : Math.min(300_000, previous.delayMs * 2)
        this.#backoff.set(workflowId, { until: ctx.clock.now() + delayMs, delayMs })
        ctx.events.emit('worker:error', { workflowId, error: toEngineError(error) })
      })
      .finally(() => {
        this.#running.delete(workflowId)
        this.notify()
      })
    this.#running.set(workflowId, session)
  }

  async #waitUntil(until: number): Promise<void> {
    if (this.state !== 'running') return
    if (this.#notified) {
      this.#notified = false
      return
    }
    const ms = Math.max(0, until - this.#ctx.clock.now())
    const controller = new AbortController()
    const onStop = () => controller.abort()
    this.#sleep.signal.addEventListener('abort', onStop, { once: true })
    this.#wake = () => controller.abort()
    try {
      await this.#ctx.clock.sleep(ms, controller.signal)
    } catch {
      // Woken early.
    } finally {
      this.#wake = undefined
      this.#notified = false
      this.#sleep.signal.removeEventListener('abort', onStop)
    }
  }
}
