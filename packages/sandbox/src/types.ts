/**
 * Public types of the sandbox: what the engine hands in for one phase evaluation and what comes back.
 * Everything that crosses the boundary is plain JSON data.
 */

/** A JSON value: the only kind of value that crosses the sandbox boundary. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Levels of `console.*` inside the sandbox. */
export type ConsoleLevel = 'log' | 'info' | 'warn' | 'error'

/** A position in the user's script (`workflow.js`), 1-based line and column. */
export interface SourcePosition {
  line: number
  column: number
}

/**
 * Limits of one evaluation. Every violation ends the evaluation with its own {@link SandboxErrorCode}.
 */
export interface SandboxLimits {
  /** Hard cap of guest memory in bytes, enforced by a bounded `WebAssembly.Memory`. Default 64 MiB. */
  memoryLimitBytes: number
  /**
   * Guest stack size in bytes. Default 256 KiB: WASM frames run on the host thread's native stack, and with Node's
   * default stack a larger QuickJS limit lets V8 overflow first (the evaluation still fails with
   * `sandbox_stack_overflow`, but the guest cannot catch it). At most 768 KiB (the instance's C stack is 1 MiB).
   */
  maxStackBytes: number
  /** Guest execution time budget in ms (time spent running guest code, not waiting on host calls). Default 2000. */
  timeoutMs: number
  /** Wall-clock budget of the whole evaluation in ms, host calls included. Default 60000. */
  wallTimeoutMs: number
  /** Maximum number of host (tool) calls per evaluation. Default 1000. */
  maxHostCalls: number
  /** Maximum size of one host call's JSON input, and of a host result handed to the guest, in bytes. Default 1 MiB. */
  maxArgumentBytes: number
  /** Maximum size of the handler's JSON result in bytes. Default 1 MiB. */
  maxResultBytes: number
  /** `console.*` messages longer than this are truncated (with a marker). Default 8 KiB. */
  maxConsoleMessageBytes: number
}

/** The handler to call: `workflow[group][name][method](...args)`. Names are validated as identifiers. */
export interface HandlerRef {
  group: 'producers' | 'consumers'
  name: string
  method: string
}

/** One tool call made by the guest, as the host sees it. */
export interface HostCall {
  namespace: string
  method: string
  /** The single argument the guest passed (tools take one object), JSON-parsed; `null` when omitted. */
  input: JsonValue
  /** 0-based index of this call within the evaluation. */
  index: number
  /** Where in `workflow.js` the call was made, when known. */
  callSite?: SourcePosition
}

/**
 * The host side of a tool call. Resolve with the tool's JSON result (or `undefined`), or throw.
 * A thrown error crosses into the guest as plain data `{ name, message, code?, type? }`; its
 * classification (`type`, `code`) is read from the error object's own string properties.
 * Host stacks never cross.
 */
export type HostCallHandler = (call: HostCall) => Promise<JsonValue | undefined>

/** Everything needed to evaluate one handler phase. */
export interface EvaluationRequest {
  /** The user's script, loaded unchanged as `workflow.js` (glue is appended, never prepended). */
  code: string
  /** Optional cache key for the compiled script (for example the script version id). */
  scriptKey?: string
  /** Which handler to call. */
  handler: HandlerRef
  /** Arguments of the handler call, JSON only. */
  args: JsonValue[]
  /**
   * Tool namespaces exposed as globals, with their methods: `{ Topics: ['peek', 'publish'], Email: ['send'] }`.
   * `console` is always present and must not be listed.
   */
  globals: Readonly<Record<string, readonly string[]>>
  /** Receives every tool call. */
  host: HostCallHandler
  /** Receives every `console.*` call, synchronously, in order. */
  onConsole?: (level: ConsoleLevel, message: string) => void
  /** Per-evaluation overrides of the runner's limits. */
  limits?: Partial<SandboxLimits>
  /** Aborts the evaluation from the host (code `aborted`). */
  signal?: AbortSignal
}

/**
 * Why an evaluation failed.
 * - `syntax_error`: the script does not parse.
 * - `script_error`: the script threw (its own error, a thrown non-Error, a failed host call it did not catch).
 * - `handler_not_found`: `workflow[group][name][method]` is not a function, or `workflow` is not defined.
 * - `sandbox_timeout`: the guest execution time budget ran out (loops, catastrophic regexes, ...).
 * - `sandbox_wall_timeout`: the wall-clock budget ran out (for example a host promise that never settles).
 * - `sandbox_memory`: the memory limit was hit.
 * - `sandbox_stack_overflow`: the stack limit was hit (deep recursion).
 * - `host_call_limit`: more host calls than `maxHostCalls`.
 * - `argument_too_large`: a host call input or a host result is larger than `maxArgumentBytes`.
 * - `result_too_large`: the handler result is larger than `maxResultBytes`.
 * - `result_not_json`: the handler result is not JSON (a function, a cycle, a BigInt, ...).
 * - `aborted`: the host aborted the evaluation through `signal`.
 * - `sandbox_internal`: a fault of the sandbox itself (never the script's fault).
 */
export type SandboxErrorCode =
  | 'syntax_error'
  | 'script_error'
  | 'handler_not_found'
  | 'sandbox_timeout'
  | 'sandbox_wall_timeout'
  | 'sandbox_memory'
  | 'sandbox_stack_overflow'
  | 'host_call_limit'
  | 'argument_too_large'
  | 'result_too_large'
  | 'result_not_json'
  | 'aborted'
  | 'sandbox_internal'

/** Error classes shared with the engine (SPEC §8). */
export type ErrorType = 'auth' | 'permission' | 'network' | 'logic' | 'internal'

/** A host error as plain data, as it crossed into the guest. */
export interface HostErrorData {
  name: string
  message: string
  code?: string
  type?: ErrorType
}

/** Counters of one evaluation. */
export interface EvaluationStats {
  /** Wall time of the whole evaluation in ms. */
  wallMs: number
  /** Time spent running guest code in ms. */
  guestMs: number
  hostCalls: number
}

/** The result of one evaluation: an expected outcome, never thrown. */
export type EvaluationOutcome =
  | { ok: true; /** `undefined` when the handler returned `undefined`. */ value: JsonValue | undefined; stats: EvaluationStats }
  | { ok: false; error: SandboxErrorData; stats: EvaluationStats }

/** A failed evaluation, as plain data. */
export interface SandboxErrorData {
  code: SandboxErrorCode
  /**
   * The error class: `logic` for everything the script did, `internal` for `sandbox_internal`, and the host
   * error's own type when the script let a failed host call escape (`hostError` is then set).
   */
  type: ErrorType
  /** Guest error name (`TypeError`, `SyntaxError`, ...), or a name for the limit (`TimeoutError`, ...). */
  name: string
  /** The whole message. A thrown non-Error is described (`Script threw a string: "boom"`). */
  message: string
  /** Position in `workflow.js` where the error was raised (for a failed host call: the line that made the call). */
  location?: SourcePosition
  /** Guest stack with only `workflow.js` frames. */
  stack?: string
  /** The host error, when the evaluation failed because of a host call the script did not catch. */
  hostError?: HostErrorData
}

/** Runs phase evaluations. The engine depends on this interface only, so the engine can be swapped. */
export interface SandboxRunner {
  /** Evaluates one handler call in a fresh, isolated instance. Never throws for script faults. */
  evaluate(request: EvaluationRequest): Promise<EvaluationOutcome>
  /** Releases pooled resources. Evaluations after `close()` fail with `sandbox_internal`. */
  close(): Promise<void>
}

/** A producer schedule as written in the script. */
export type ProducerSchedule = { interval: string } | { cron: string; timezone?: string }

/** A producer in the extracted handler config. */
export interface ProducerConfig {
  name: string
  schedule: ProducerSchedule
  /** Topics this producer may publish to (`[]` when not declared). */
  publishes: string[]
}

/** A consumer in the extracted handler config. */
export interface ConsumerConfig {
  name: string
  subscribe: string[]
  /** Topics `next` may publish to (`[]` when not declared). */
  publishes: string[]
  hasMutate: boolean
  hasNext: boolean
}

/**
 * The handler config extracted by {@link validateWorkflowScript}: stored with the script version and copied to the
 * workflow on activation. Producers and consumers keep their declared order.
 */
export interface HandlerConfig {
  topics: string[]
  producers: ProducerConfig[]
  consumers: ConsumerConfig[]
}

/** Why a script failed validation. */
export interface ValidationError {
  /** `syntax_error`, `script_error` (top-level code threw, including a tool call), `sandbox_*` limits, or `invalid_workflow`. */
  code: SandboxErrorCode | 'invalid_workflow'
  /** The whole message, naming the handler and field (SPEC §2). */
  message: string
  /** Position in `workflow.js` when the failure comes from running the script. */
  location?: SourcePosition
}

/** The result of {@link validateWorkflowScript}. */
export type ValidationResult =
  | { ok: true; config: HandlerConfig; warnings: string[] }
  | { ok: false; error: ValidationError }
