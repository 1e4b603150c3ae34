/**
 * The sandbox micro-benchmark (`sandbox-bench.ts`): one evaluation of a 200-line script with 10 host calls, in plain
 * Node and in the sandbox, including the runner the engine uses by default, the one it uses with `sandboxRecycle`, and
 * the one it uses with `sandboxThreads: 0, sandboxPool: 3` (evaluations on the calling thread, 3 ready instances), and
 * the default one without its calling-thread pool (`sandboxCallerPool: 0`: every evaluation on the sandbox thread).
 */
import { sandboxBench } from '../sandbox-bench.js'
import { openEnv } from '../lib/workload.js'

/** Parameters of the sandbox section. */
export interface SandboxParams {
  samples: number
  /** Also measure every runner back to back (no idle time between evaluations). Default true. */
  backToBack?: boolean
}

/** Medians in ms, one per variant (`engine` is the engine's default runner after a short idle pause). */
export async function sandbox(params: SandboxParams): Promise<Record<string, number>> {
  const env = await openEnv(':memory:')
  const recycling = await openEnv(':memory:', { engine: { sandboxRecycle: true } })
  // The engine configured for a process with one session at a time: the calling thread with 3 ready instances.
  const calling = await openEnv(':memory:', { engine: { sandboxThreads: 0, sandboxPool: 3 } })
  // The default runner without its calling-thread pool: every evaluation on the sandbox thread.
  const threadOnly = await openEnv(':memory:', { engine: { sandboxCallerPool: 0 } })
  try {
    const runners = {
      engine: env.engine.context.sandbox,
      'engine-recycle': recycling.engine.context.sandbox,
      'engine-calling': calling.engine.context.sandbox,
      'engine-thread': threadOnly.engine.context.sandbox,
    }
    const results = await sandboxBench(params.samples, runners, { backToBack: params.backToBack })
    const figures: Record<string, number> = {}
    for (const [name, r] of Object.entries(results)) {
      figures[name] = r.median
      figures[`${name}:p99`] = r.p99
    }
    return figures
  } finally {
    await env.close()
    await recycling.close()
    await calling.close()
    await threadOnly.close()
  }
}
