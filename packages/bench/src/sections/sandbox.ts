/**
 * The sandbox micro-benchmark (`sandbox-bench.ts`): one evaluation of a 200-line script with 10 host calls, in plain
 * Node and in the sandbox, including the runner the engine uses by default and the one it uses with `sandboxRecycle`.
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
  try {
    const runners = { engine: env.engine.context.sandbox, 'engine-recycle': recycling.engine.context.sandbox }
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
  }
}
