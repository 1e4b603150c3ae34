/**
 * One evaluation of a planned request: take an instance (a preload, a pooled or renewed one, or a new one), evaluate,
 * and release the instance on every path. Both runners and the instance image's self-check run plans through here.
 */
import { limitError } from './errors.js'
import { Evaluation } from './evaluation.js'
import type { EvaluationPlan } from './evaluation-plan.js'
import type { InstancePool } from './instance-pool.js'
import { preloadKey } from './preload-key.js'
import { disposeSoon, dropInstance, prepareInstance, type PreparedInstance } from './quickjs-instance.js'
import type { EvaluationOutcome, SandboxErrorData } from './types.js'

/** The outcome of an evaluation that failed before its guest ran. @internal */
export const failed = (error: SandboxErrorData, startedAt: number): EvaluationOutcome => ({
  ok: false,
  error,
  stats: { wallMs: performance.now() - startedAt, guestMs: 0, hostCalls: 0 },
})

/**
 * Runs `plan` in `instance` (or a fresh instance) and releases the instance afterwards, on every path: `dispose`
 * tears the QuickJS runtime down (soon after), `drop` only lets go of it (see {@link dropInstance}), a pool takes it
 * back to reset it for a later evaluation when it qualifies (see {@link InstancePool.giveBack}).
 * @internal
 */
export async function runPlan(plan: EvaluationPlan, instance?: PreparedInstance, release: 'dispose' | 'drop' | InstancePool = 'dispose'): Promise<EvaluationOutcome> {
  const startedAt = performance.now()
  if (plan.signal?.aborted === true) return failed(limitError('aborted', 'The evaluation was aborted by the host'), startedAt)
  // `release` is a pool exactly when it is not one of the two strings (a type-only import of InstancePool keeps this
  // module out of the import cycle through instance-image.ts, which runs its image check through here).
  const pool = typeof release === 'object' ? release : undefined
  // Computed once: both taking a preload and scheduling the next one compare it.
  const key = pool === undefined ? '' : preloadKey(plan)
  const preloaded = instance === undefined ? pool?.claim(plan, key) : undefined
  let prepared = preloaded?.instance ?? instance ?? pool?.take(plan.limits.memoryLimitBytes)
  try {
    prepared ??= (await pool?.takeRenewed(plan.limits.memoryLimitBytes)) ?? (await prepareInstance(plan.limits.memoryLimitBytes))
  } catch (error) {
    return failed(limitError('sandbox_internal', `Creating the sandbox failed: ${(error as Error)?.message ?? String(error)}`), startedAt)
  }
  try {
    // A script with an image is written into the instance instead of being loaded again (see `script-image.ts`).
    const loaded = preloaded ?? (pool === undefined ? undefined : pool.loadFromImage(prepared, key))
    return await new Evaluation(prepared, plan, loaded).execute()
  } catch (error) {
    return failed(limitError('sandbox_internal', `Sandbox fault: ${(error as Error)?.message ?? String(error)}`), startedAt)
  } finally {
    if (release === 'dispose') disposeSoon(prepared)
    else if (release === 'drop') dropInstance(prepared)
    else if (pool !== undefined) {
      // The preload is scheduled first: the next evaluation (often the same script, at once) waits for it, not for
      // the renewal of the spent instance.
      pool.preloadSoon(plan, key)
      pool.probeSoon(plan, key)
      pool.giveBack(prepared)
    }
  }
}
