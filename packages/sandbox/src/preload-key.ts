/**
 * What a preload is keyed by (see `InstancePool.claim`).
 */
import type { EvaluationPlan } from './evaluation-plan.js'

/** Pure; what a preload is for: an evaluation of the same script with the same tools and limits can take it. */
export function preloadKey(plan: Pick<EvaluationPlan, 'code' | 'globals' | 'limits'>): string {
  return `${JSON.stringify(plan.globals)}\u0000${JSON.stringify(plan.limits)}\u0000${plan.code}`
}
