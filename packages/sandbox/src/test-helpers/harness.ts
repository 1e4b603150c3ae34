/**
 * Shared helpers of the sandbox tests: request builders, a recording host, and a health check.
 */
import { expect } from 'vitest'
import type {
  ConsoleLevel,
  EvaluationOutcome,
  EvaluationRequest,
  HostCall,
  HostCallHandler,
  JsonValue,
  SandboxErrorCode,
  SandboxErrorData,
  SandboxLimits,
  SandboxRunner,
} from '../types.js'

const MiB = 1024 * 1024

/**
 * The runner configurations the behaviour suites run against: evaluations on the calling thread, and in a worker
 * thread with a pool (host calls and `console.*` proxied back), with new instances and with recycled ones, and with
 * a pool on the calling thread as well (the engine's default). The worker thread runs the built `dist`, which the
 * package's `test` script builds first.
 */
export const RUNNER_VARIANTS = [
  { name: 'calling thread', options: {} },
  { name: 'worker thread', options: { threads: 1, pool: { size: 2 } } },
  { name: 'worker thread, recycling instances', options: { threads: 1, pool: { size: 2 }, recycle: true } },
  // The engine's default: idle moments load the next evaluation on the calling thread, the others go to the thread.
  { name: 'worker thread and a calling-thread pool', options: { threads: 1, pool: { size: 2 }, callerPool: { size: 2 } } },
] as const

/** Small limits that keep hostile tests fast. */
export const FAST_LIMITS: Partial<SandboxLimits> = { timeoutMs: 200, memoryLimitBytes: 32 * MiB, wallTimeoutMs: 5000 }

/** Generous slack for timing assertions on a noisy 2-core machine. */
export const MARGIN_MS = 1500

/** A script whose consumer `T` has the given members, e.g. `consumer('prepare() { return 1 }')`. */
export function consumer(members: string): string {
  return `const workflow = { consumers: { T: { ${members} } } };`
}

/** A host that records calls and answers by method: `fail` throws, `never` never settles, others echo. */
export interface RecordingHost {
  calls: HostCall[]
  logs: Array<[ConsoleLevel, string]>
  host: HostCallHandler
}

/** Creates a {@link RecordingHost}; `answers` overrides the reply of a method. */
export function recordingHost(answers: Record<string, (call: HostCall) => Promise<JsonValue | undefined>> = {}): RecordingHost {
  const calls: HostCall[] = []
  const logs: Array<[ConsoleLevel, string]> = []
  const host: HostCallHandler = async (call) => {
    calls.push(call)
    const answer = answers[call.method]
    if (answer !== undefined) return answer(call)
    if (call.method === 'never') return new Promise<never>(() => {})
    if (call.method === 'fail') {
      throw Object.assign(new Error('mail server unavailable'), { name: 'ToolError', code: 'smtp_down', type: 'network' })
    }
    return { echo: call.input, index: call.index }
  }
  return { calls, logs, host }
}

/** The globals most tests expose. */
export const GLOBALS = { Email: ['send', 'fail', 'never'], Topics: ['peek', 'publish'] } as const

/** A request for `workflow.consumers.T.prepare(...args)`. */
export function request(code: string, options: Partial<EvaluationRequest> & { recording?: RecordingHost } = {}): EvaluationRequest {
  const recording = options.recording ?? recordingHost()
  return {
    code,
    handler: { group: 'consumers', name: 'T', method: 'prepare' },
    args: [],
    globals: GLOBALS,
    host: recording.host,
    onConsole: (level, message) => recording.logs.push([level, message]),
    ...options,
  }
}

/** Asserts a failed outcome and returns its error. */
export function failure(outcome: EvaluationOutcome, code?: SandboxErrorCode): SandboxErrorData {
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`)
  if (code !== undefined) expect(outcome.error, outcome.error.message).toMatchObject({ code })
  return outcome.error
}

/** Asserts a successful outcome and returns its value. */
export function success(outcome: EvaluationOutcome): JsonValue | undefined {
  if (!outcome.ok) throw new Error(`expected success, got ${outcome.error.code}: ${outcome.error.message}`)
  return outcome.value
}

/** Times an evaluation. */
export async function timed(runner: SandboxRunner, req: EvaluationRequest): Promise<{ outcome: EvaluationOutcome; ms: number }> {
  const start = performance.now()
  const outcome = await runner.evaluate(req)
  return { outcome, ms: performance.now() - start }
}

/** Asserts that a normal evaluation (tools, console, result) still works on `runner`. */
export async function expectHealthy(runner: SandboxRunner): Promise<void> {
  const recording = recordingHost()
  const code = consumer('async prepare(n) { const r = await Email.send({ n }); console.log("ok", n); return { n, r } }')
  const value = success(await runner.evaluate(request(code, { args: [7], recording })))
  expect(value).toEqual({ n: 7, r: { echo: { n: 7 }, index: 0 } })
  expect(recording.logs).toEqual([['log', 'ok 7']])
}
