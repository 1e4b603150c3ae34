/** `createEngine`: the facade of SPEC §14 over the engine's functions. */
import type { LedgerflowDb } from '@ledgerflow/db'
import { type SandboxLimits, type SandboxRunner, type SandboxRunnerOptions, createSandboxRunner } from '@ledgerflow/sandbox'
import { type Clock, systemClock } from './clock.js'
import { DEFAULT_CONFIG, type EngineConfig } from './config.js'
import { type EngineContext, createEngineContext } from './context.js'
import { attachDebugLogger } from './debug.js'
import { type DeployOptions, type DeployResult, deployWorkflow } from './deploy/deploy-workflow.js'
import { EngineEmitter, type EngineEventName, type EngineListener } from './events.js'
import type { FaultHook } from './faults.js'
import { type HandlerResult, executeHandler } from './handler/execute-handler.js'
import { type IdGenerator, defaultIds } from './ids.js'
import {
  type ExternalEvent,
  type Resolution,
  type ResolutionResult,
  pauseWorkflow,
  publishEvent,
  requeueEvent,
  resolveMutation,
  resumeWorkflow,
  retryWorkflow,
  runNow,
} from './operator/operator-actions.js'
import { type RecoverOptions, type RecoveryReport, defaultWorkerId, resumeIncompleteSessions } from './session/recover.js'
import { canStartSession, continueSession, executeWorkflowSession, executeWorkflowSessionIfIdle, getSessionCost } from './session/run-session.js'
import type { SessionOptions, SessionResult } from './session/session-result.js'
import type { Tool } from './tools/define-tool.js'
import { createToolRegistry } from './tools/registry.js'
import { Worker, type WorkerOptions } from './worker/worker.js'

/** Options of {@link createEngine}. */
export interface EngineOptions {
  /** An open database (`openDatabase`). The engine does not close it. */
  db: LedgerflowDb
  /** Tools scripts may call (besides the built-in `Topics` and `console`). */
  tools?: readonly Tool[]
  /** Time source; tests pass a manual clock. Default: the system clock. */
  clock?: Clock
  /** Id generator; tests pass sequential ids. */
  ids?: IdGenerator
  /** Jitter source in [0, 1). Default `Math.random`. */
  random?: () => number
  /** Per-phase sandbox limits. */
  sandbox?: Partial<SandboxLimits>
  /** A sandbox runner of your own (otherwise QuickJS/WASM with `sandbox` limits). */
  sandboxRunner?: SandboxRunner
  /**
   * Worker threads that run the phase evaluations (default 1; 0 runs them on the calling thread). Each keeps a few
   * never-used instances ready and creates the next ones while this thread writes checkpoints, so creating an
   * instance (and collecting spent ones) stays off the run's critical path. Every evaluation still gets a fresh,
   * memory-bounded instance. Ignored with `sandboxRunner`.
   */
  sandboxThreads?: number
  /**
   * Never-used instances kept ready per sandbox thread, or on the calling thread when `sandboxThreads` is 0 (default
   * 3 with threads, none without). A pool on the calling thread is refilled while the event loop has nothing else to
   * do. It suits a worker process that runs one session at a time on a machine shared with other worker processes:
   * the evaluations then cross no thread, and the processes are the parallelism (on the 2-core VM, 4 such processes
   * on PostgreSQL ran 8 % more events per second than with a sandbox thread each, with 20 % less CPU per event). With
   * several sessions at once in one process, a sandbox thread does better. Ignored with `sandboxRunner`.
   */
  sandboxPool?: number
  /**
   * With sandbox threads: never-used instances also kept ready on the calling thread (default 2; 0 turns it off),
   * created and loaded only while the process is quiet (nothing started or ended for 1 ms, nothing in flight, the
   * event loop mostly idle). An evaluation whose script is already loaded
   * there runs there and skips the hand-offs between threads (on the 2-core VM about 2 ms of a 200-line script with
   * 10 tool calls); under load nothing is loaded there and every evaluation goes to the threads. See
   * `SandboxRunnerOptions.callerPool` of `@ledgerflow/sandbox`. Ignored with `sandboxRunner` or `sandboxThreads: 0`.
   */
  sandboxCallerPool?: number
  /**
   * Reset sandbox instances whose evaluation ended normally in place instead of creating a new one per evaluation
   * (default false; see `SandboxRunnerOptions.recycle` of `@ledgerflow/sandbox`: about 45 % less CPU per consumer
   * run, every byte of a recycled instance's memory equal to a new one's, but the WebAssembly instance object is
   * reused, which SPEC §4 does not allow by default). Ignored with `sandboxRunner`.
   */
  sandboxRecycle?: boolean
  /** Owner id of this engine's sessions. Default: host/pid/random. */
  workerId?: string
  /** Called at every named crash point (testing kit and crash campaigns). */
  faults?: FaultHook
  /** Engine limits and policies. */
  config?: Partial<Omit<EngineConfig, 'workerId' | 'sandbox'>>
  /** Scheduler and worker settings for `start()`. */
  worker?: WorkerOptions
}

/** The engine. */
export interface Engine {
  /** The context the engine's functions run on (for the function-style API). */
  readonly context: EngineContext
  readonly workerId: string
  deployWorkflow(options: DeployOptions): Promise<DeployResult>
  /** `executeWorkflowSession`. */
  runSession(workflowId: string, options?: SessionOptions): Promise<SessionResult>
  /** `executeWorkflowSessionIfIdle`. */
  runSessionIfIdle(workflowId: string, options?: SessionOptions): Promise<SessionResult | null>
  canStartSession(workflowId: string): Promise<boolean>
  /** `getSessionCost`, microdollars. */
  sessionCost(sessionId: string): Promise<number>
  continueSession(sessionId: string): Promise<SessionResult>
  /** `resumeIncompleteSessions`. */
  recover(options?: RecoverOptions): Promise<RecoveryReport>
  executeHandler(runId: string): Promise<HandlerResult>
  pause(workflowId: string): Promise<void>
  resume(workflowId: string): Promise<void>
  retry(workflowId: string, options?: Omit<SessionOptions, 'trigger'>): Promise<SessionResult | null>
  runNow(workflowId: string, options?: Omit<SessionOptions, 'trigger'>): Promise<SessionResult | null>
  resolveMutation(mutationId: string, resolution: Resolution, options?: { result?: unknown; by?: string }): Promise<ResolutionResult>
  requeueEvent(eventId: string): Promise<void>
  publish(workflowId: string, topic: string, event: ExternalEvent): Promise<{ eventId: string | undefined; duplicate: boolean }>
  /** Starts the scheduler and worker loop (recovery first). */
  start(): Promise<void>
  /** Stops gracefully: current phases finish or checkpoint, sessions close, leases are released. */
  stop(): Promise<void>
  on<K extends EngineEventName>(event: K, listener: EngineListener<K>): () => void
  /** The engine's event emitter (for `onAny`, `once`). */
  readonly events: EngineEmitter
  /** Stops the worker (if started) and releases the sandbox. Does not close the database. */
  close(): Promise<void>
}

/**
 * The engine's default sandbox: one worker thread with three pre-created instances (a consumer run evaluates three
 * phases) and two on the calling thread for an idle process's next evaluation, or, with `threads: 0`, evaluations on
 * the calling thread, without a pool unless `pool` asks for one.
 */
function defaultSandboxPool(options: Pick<EngineOptions, 'sandboxThreads' | 'sandboxPool' | 'sandboxCallerPool'>): Pick<SandboxRunnerOptions, 'threads' | 'pool' | 'callerPool'> {
  const threads = options.sandboxThreads ?? 1
  const pool = { size: options.sandboxPool ?? (threads > 0 ? 3 : 0) }
  return threads > 0 ? { threads, pool, callerPool: { size: options.sandboxCallerPool ?? 2 } } : { threads, pool }
}

/**
 * Creates an engine over an open database.
 *
 * ### Examples
 * ```ts
 * const db = await openDatabase({ sqlite: './.ledgerflow/ledgerflow.db' })
 * const engine = createEngine({ db, tools: [sendEmail] })
 * const { workflowId } = await engine.deployWorkflow({ title: 'Inbox', code })
 * const result = await engine.runSession(workflowId)
 * await engine.close()
 * await db.close()
 * ```
 */
export function createEngine(options: EngineOptions): Engine {
  let stopController = new AbortController()
  const ctx = contextOf(options, () => stopController.signal)
  let worker: Worker | undefined
  return {
    context: ctx,
    workerId: ctx.config.workerId,
    ...engineFunctions(ctx),
    async start() {
      if (stopController.signal.aborted) stopController = new AbortController()
      worker ??= new Worker(ctx, options.worker)
      await worker.start()
    },
    async stop() {
      stopController.abort(new Error('engine stopping'))
      await worker?.stop()
    },
    on: (event, listener) => ctx.events.on(event, listener),
    events: ctx.events,
    async close() {
      stopController.abort(new Error('engine closed'))
      await worker?.stop()
      if (!options.sandboxRunner) await ctx.sandbox.close()
    },
  }
}

/** The engine's context: its frozen config, its sandbox (unless given one) and event emitter, over `options.db`. */
function contextOf(options: EngineOptions, stopSignal: () => AbortSignal): EngineContext {
  const config: EngineConfig = Object.freeze({
    ...DEFAULT_CONFIG,
    ...options.config,
    retry: Object.freeze({ ...DEFAULT_CONFIG.retry, ...options.config?.retry }),
    workerId: options.workerId ?? defaultWorkerId(),
    sandbox: Object.freeze({ ...options.sandbox }),
  })
  const sandbox = options.sandboxRunner ?? createSandboxRunner({ limits: options.sandbox, ...defaultSandboxPool(options), recycle: options.sandboxRecycle ?? false })
  const events = new EngineEmitter()
  // DEBUG=ledgerflow:* writes engine events to stderr (nothing is subscribed otherwise).
  attachDebugLogger(events, { now: () => (options.clock ?? systemClock).now() })
  return createEngineContext({
    db: options.db,
    sandbox,
    tools: createToolRegistry(options.tools ?? []),
    clock: options.clock ?? systemClock,
    ids: options.ids ?? defaultIds,
    random: options.random ?? Math.random,
    events,
    config,
    fault: options.faults,
    stopSignal,
  })
}

/** The engine's functions that only pass its context on. */
function engineFunctions(ctx: EngineContext): Omit<Engine, 'context' | 'workerId' | 'start' | 'stop' | 'on' | 'events' | 'close'> {
  return {
    deployWorkflow: (o) => deployWorkflow(ctx, o),
    runSession: (id, o) => executeWorkflowSession(ctx, id, o),
    runSessionIfIdle: (id, o) => executeWorkflowSessionIfIdle(ctx, id, o),
    canStartSession: (id) => canStartSession(ctx, id),
    sessionCost: (id) => getSessionCost(ctx, id),
    continueSession: (id) => continueSession(ctx, id),
    recover: (o) => resumeIncompleteSessions(ctx, o),
    executeHandler: (id) => executeHandler(ctx, id),
    pause: (id) => pauseWorkflow(ctx, id),
    resume: (id) => resumeWorkflow(ctx, id),
    retry: (id, o) => retryWorkflow(ctx, id, o),
    runNow: (id, o) => runNow(ctx, id, o),
    resolveMutation: (id, r, o) => resolveMutation(ctx, id, r, o),
    requeueEvent: (id) => requeueEvent(ctx, id),
    publish: (id, topic, e) => publishEvent(ctx, id, topic, e),
  }
}
