/**
 * Messages between a {@link createSandboxRunner} with `threads` and its worker threads. Everything is plain data:
 * the host handler, `onConsole` and the abort signal stay on the calling thread; the worker asks for host calls and
 * reports console lines and the outcome.
 */
import type { EvaluationEntry, GlobalEntries } from './evaluation-plan.js'
import type { HostReply } from './host-calls.js'
import type { ConsoleLevel, EvaluationOutcome, HostCall, SandboxLimits } from './types.js'
import type { CompiledQuickJS } from './quickjs-instance.js'

/** `workerData` of a sandbox worker thread. */
export interface SandboxWorkerData {
  /** The calling thread's compiled QuickJS module (compiled once per process) and its initial pages. */
  quickjs: CompiledQuickJS
  /** Never-used instances the worker keeps ready, for `memoryLimitBytes`. */
  poolSize: number
  memoryLimitBytes: number
  /** Reset used instances in place (see `SandboxRunnerOptions.recycle`). */
  recycle: boolean
  /** Load scripts ahead of their evaluations (see `SandboxRunnerOptions.preload`); undefined: the pool's default. */
  preload: boolean | undefined
  /** One abort flag per evaluation slot (`Int32Array` over a `SharedArrayBuffer`), raised by the calling thread. */
  abortFlags: Int32Array
}

/** The part of an evaluation plan that crosses to the worker. */
export interface RemotePlan {
  code: string
  entry: EvaluationEntry
  globals: GlobalEntries
  limits: SandboxLimits
}

/** Calling thread → worker. */
export type ToWorker =
  /** `slot`: the evaluation's abort flag in `abortFlags`, or -1 when every slot is taken (abort by message only). */
  | { t: 'eval'; id: number; slot: number; plan: RemotePlan }
  | { t: 'reply'; id: number; call: number; reply: HostReply }
  | { t: 'abort'; id: number }

/** Worker → calling thread. */
export type FromWorker =
  | { t: 'host'; id: number; call: HostCall }
  | { t: 'console'; id: number; level: ConsoleLevel; message: string }
  | { t: 'done'; id: number; outcome: EvaluationOutcome }
