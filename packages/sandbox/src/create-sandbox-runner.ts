/**
 * The QuickJS/WebAssembly implementation of {@link SandboxRunner}.
 */
import { abortedError } from './budget.js'
import { limitError } from './errors.js'
import { type EvaluationPlan, planEvaluation } from './evaluation-plan.js'
import { CallerInstancePool } from './caller-instance-pool.js'
import { InstancePool } from './instance-pool.js'
import { preloadKey } from './preload-key.js'
import { QuietWatch } from './quiet-watch.js'
import { failed, runPlan } from './run-plan.js'
import { ThreadedEvaluator } from './worker-runner.js'
import { resolveLimits } from './limits.js'
import { flushDisposals } from './quickjs-instance.js'
import type { EvaluationOutcome, EvaluationRequest, SandboxLimits, SandboxRunner } from './types.js'

/** Options of {@link createSandboxRunner}. */
export interface SandboxRunnerOptions {
  /** Limits of every evaluation; a request's own `limits` override these. */
  limits?: Partial<SandboxLimits>
  /**
   * Keep `size` prepared, never-used instances (for the runner's memory limit) ready, refilled one per turn of the
   * event loop while no evaluation runs (a new instance on the zeroed memory of a spent one where it can). Saves instance creation (1–3 ms) on the critical path; each pooled instance
   * holds a 2 MiB memory (about 0.3 MiB of it resident). Spent instances wait for renewal too: `size` of them plus one
   * per evaluation the pool has seen in flight at once (at most 16 more), each with what its evaluation wrote still
   * resident until it is renewed. Default: no pool, or 2 per thread with `threads`.
   */
  pool?: { size: number }
  /**
   * Run evaluations in this many worker threads (0, the default: on the calling thread). Each thread keeps its own
   * pool (`pool.size`, default 2) of never-used instances and refills it while no evaluation runs there, so instance
   * creation and the garbage collection of spent instances leave the calling thread; host calls and `console.*`
   * are proxied back to it. Every evaluation still gets a fresh, memory-bounded instance. At most 16.
   */
  threads?: number
  /**
   * Reset instances whose evaluation ended normally in place, instead of creating a new instance for every
   * evaluation (default false). The whole memory is zeroed and the image of a never-used instance written, so every
   * byte of it equals a new instance's (a test compares them) and nothing of the previous evaluation remains; the
   * WebAssembly instance object itself is reused. An instance that ran out of memory, grew its memory, or had a
   * host exception unwind through it is never reused. Measured on the 2-core VM: a pooled evaluation of a 200-line
   * script 2.3 ms instead of 9.6 back to back, and 45 % less CPU per event in the engine's pipeline. Off by default
   * because SPEC §4 asks for a new WebAssembly instance per phase evaluation. Needs `pool` or `threads`.
   */
  recycle?: boolean
  /**
   * Load a script ahead of its next evaluation (default true; needs `pool` or `threads`). Once the same script was
   * evaluated twice in a row with the same tools and limits (a consumer's three phases, a session's runs), the pool
   * runs its top-level code in a never-used instance while no evaluation runs; the next evaluation of that script takes
   * the instance and starts at its handler. It is still an instance nothing else ran in, and it serves that one
   * evaluation. Console lines of the top level are reported with the evaluation, and its CPU time counts against the
   * evaluation's limit. The top level then runs up to 200 ms before the request (`PRELOAD_MAX_AGE_MS`; an older preload
   * is not used), and a top level that calls a tool or runs longer than 20 ms is left to the evaluation (that script is
   * preloaded again after 2, 4, 8 … of its evaluations, see `refusedAgain`). Measured on
   * the 2-core VM: a 200-line script 1.15 ms instead of 2.1 (pooled, calling thread).
   *
   * With preloading on, a script evaluated three times on a thread also gets a script image (see `script-image.ts`):
   * its top level is loaded twice more, and if neither load read the clock, drew a random number or called a tool,
   * and both left the same bytes, later instances get those bytes instead of compiling and running the top level
   * again. Each is still a new instance with its own `Math.random` seed; the top level's console lines and CPU time
   * are reported with each evaluation. Measured on the 2-core AMD VM: 35 % less CPU per evaluation of the 200-line
   * script, 30 % less for a small consumer. `LEDGERFLOW_SANDBOX_SCRIPT_IMAGES=0` turns images off (for A/B runs).
   */
  preload?: boolean
  /**
   * With `threads`: also keep this many instances ready on the calling thread (default 0; 2 or more to be of use),
   * created and loaded only while the process is quiet: no evaluation started or ended for 1 ms, none in flight on
   * any thread, and the event loop at most half busy meanwhile (see `quiet-watch.ts`). An evaluation whose script is
   * preloaded there (see `preload`) runs there; every other one goes to a thread. That
   * evaluation skips the two messages between threads of its start and end, and those of each host call (on the
   * 2-core VM 60–100 µs per host call: the 200-line script with 10 calls, after a 3 ms pause, 0.74–1.28 ms instead
   * of 2.3–5.7). A process under load is never quiet between evaluations (a back-to-back SQLite pipeline loaded
   * nothing there), so its evaluations stay on the threads, which overlap them with the database's work; an idle one
   * answers the next event on its own thread. The guarantees are the same on either side: a fresh, memory-bounded
   * instance per evaluation.
   */
  callerPool?: { size: number }
}

/**
 * Creates a runner that evaluates every request in a fresh, memory-bounded QuickJS WebAssembly instance.
 * Throws a `RangeError` when `options.limits` holds an invalid value.
 *
 * ### Examples
 * ```ts
 * const runner = createSandboxRunner({ limits: { timeoutMs: 500 }, pool: { size: 2 } })
 * const outcome = await runner.evaluate({
 *   code: 'const workflow = { consumers: { reply: { prepare: async (s) => ({ n: await Counter.next({}) }) } } }',
 *   handler: { group: 'consumers', name: 'reply', method: 'prepare' },
 *   args: [null],
 *   globals: { Counter: ['next'] },
 *   host: async (call) => (call.method === 'next' ? 1 : undefined),
 *   onConsole: (level, message) => console[level](message),
 * })
 * if (outcome.ok) console.log(outcome.value) // { n: 1 }
 * else console.error(outcome.error.code, outcome.error.message, outcome.error.location)
 * await runner.close()
 * ```
 */
export function createSandboxRunner(options: SandboxRunnerOptions = {}): SandboxRunner {
  const { limits, threads, size, callerSize, recycle, preload } = resolveRunnerOptions(options)
  const threaded = threads > 0 ? new ThreadedEvaluator({ limits, poolSize: size, threads, recycle, preload }) : undefined
  let running = 0
  const inFlight = () => running + (threaded?.load ?? 0)
  // Next to sandbox threads, the calling thread's pool creates and loads instances only once the process is quiet
  // (see `quiet-watch.ts`), so it never takes the calling thread's time from a busy process's database work. Alone, it
  // does so while no evaluation runs on this thread, so it never slows one down.
  const caller = threaded !== undefined && callerSize > 0 ? callerPool({ limits, size: callerSize, recycle, preload, inFlight, running: () => running }) : undefined
  const local = caller?.pool ?? (size > 0 && threaded === undefined ? new InstancePool(limits.memoryLimitBytes, size, { busy: () => running > 0, inFlight: () => running, recycle, preload }) : undefined)
  let closed = false

  const evaluateHere = async (plan: EvaluationPlan): Promise<EvaluationOutcome> => {
    running++
    caller?.quiet.touch('start')
    try {
      return await runPlan(plan, undefined, local ?? 'dispose')
    } finally {
      running--
      caller?.quiet.touch()
      local?.refillSoon()
    }
  }
  const evaluateThreaded = async (threaded: ThreadedEvaluator, plan: EvaluationPlan, startedAt: number): Promise<EvaluationOutcome> => {
    if (plan.signal?.aborted === true) return failed(abortedError(), startedAt)
    if (caller === undefined) return threaded.evaluate(plan, startedAt)
    // The calling thread takes the evaluation when it holds the script loaded already: no hand-off between threads.
    const key = preloadKey(plan)
    if (caller.pool.holds(plan, key)) return evaluateHere(plan)
    caller.quiet.touch('start')
    try {
      return await threaded.evaluate(plan, startedAt)
    } finally {
      caller.quiet.touch()
      caller.pool.observe(plan, key)
    }
  }

  return {
    async evaluate(request: EvaluationRequest): Promise<EvaluationOutcome> {
      const startedAt = performance.now()
      if (closed) return failed(limitError('sandbox_internal', 'The sandbox runner is closed'), startedAt)
      const planned = planEvaluation(request, limits)
      if (!planned.ok) return failed(planned.error, startedAt)
      return threaded === undefined ? evaluateHere(planned.plan) : evaluateThreaded(threaded, planned.plan, startedAt)
    },
    async close(): Promise<void> {
      closed = true
      await threaded?.close()
      caller?.quiet.close()
      await local?.close()
      flushDisposals()
    },
  }
}

/** The options of {@link createSandboxRunner} with their defaults, checked (a `RangeError` names a bad one). */
function resolveRunnerOptions(options: SandboxRunnerOptions) {
  const limits = resolveLimits(options.limits)
  const threads = options.threads ?? 0
  if (!Number.isInteger(threads) || threads < 0 || threads > 16) throw new RangeError(`threads must be an integer from 0 to 16, got ${threads}`)
  const size = poolSize('pool.size', options.pool?.size ?? (threads > 0 ? 2 : 0))
  const callerSize = threads > 0 ? poolSize('callerPool.size', options.callerPool?.size ?? 0) : 0
  return { limits, threads, size, callerSize, recycle: options.recycle ?? false, preload: options.preload }
}

/** A pool size option, checked. */
function poolSize(name: string, size: number): number {
  if (!Number.isInteger(size) || size < 0 || size > 64) throw new RangeError(`${name} must be an integer from 0 to 64, got ${size}`)
  return size
}

/**
 * The calling thread's pool next to sandbox threads, and the watch that tells it when the process is quiet (`inFlight`:
 * evaluations on every thread; `running`: on this one).
 */
function callerPool(options: { limits: SandboxLimits; size: number; recycle: boolean; preload: boolean | undefined; inFlight: () => number; running: () => number }) {
  const { limits, size, recycle, preload, inFlight, running } = options
  const quiet: QuietWatch = new QuietWatch({ inFlight, onQuiet: () => pool.resume() })
  // Every evaluation's start ends the quiet (`touch`), so a quiet thread has none in flight.
  const busy = () => !quiet.quiet
  // A creation put off waits for the quiet, not for the next turn of the event loop: it must not spin the loop.
  const pool: CallerInstancePool = new CallerInstancePool(limits.memoryLimitBytes, size, { busy, whenIdle: () => quiet.whenQuiet(), inFlight: running, recycle, preload })
  return { pool, quiet }
}
