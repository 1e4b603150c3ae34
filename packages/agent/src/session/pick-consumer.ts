/**
 * Fair consumer choice (SPEC §7.4). Pure; does not execute effects.
 *
 * A consumer is eligible when its `wakeAt` has come, or when one of its topics has pending events newer than the
 * last ones it declined (a prepare that reserved nothing marks the consumer idle up to the newest event sequence it
 * saw, so declined events never make it busy-loop). Among eligible consumers, woken ones go first (earliest wake
 * time), then the one whose oldest pending event is oldest; ties go to declaration order.
 */

/** Pending events of one topic. */
export interface TopicBounds {
  oldestSequence: number
  newestSequence: number
}

/** A consumer's wake-up state. */
export interface WakeupState {
  idleAfterSequence: number | null
  wakeAt: number | null
}

/** The consumer to run next, or undefined when none is eligible. Pure. */
export function pickConsumer(
  consumers: ReadonlyArray<{ name: string; subscribe: readonly string[] }>,
  bounds: ReadonlyMap<string, TopicBounds>,
  wakeups: ReadonlyMap<string, WakeupState>,
  now: number,
): string | undefined {
  let best: { name: string; rank: number; key: number } | undefined
  for (const consumer of consumers) {
    const w = wakeups.get(consumer.name)
    let rank: number
    let key: number
    if (w?.wakeAt !== null && w?.wakeAt !== undefined && w.wakeAt <= now) {
      rank = 0
      key = w.wakeAt
    } else {
      let oldest: number | undefined
      for (const topic of consumer.subscribe) {
        const b = bounds.get(topic)
        if (!b) continue
        if (w?.idleAfterSequence !== null && w?.idleAfterSequence !== undefined && b.newestSequence <= w.idleAfterSequence) continue
        if (oldest === undefined || b.oldestSequence < oldest) oldest = b.oldestSequence
      }
      if (oldest === undefined) continue
      rank = 1
      key = oldest
    }
    if (!best || rank < best.rank || (rank === best.rank && key < best.key)) best = { name: consumer.name, rank, key }
  }
  return best?.name
}

/** Session budgets. */
export interface Budget {
  maxIterations: number
  maxCostMicrodollars: number | null
  maxDurationMs: number | null
}

/** What has been used. */
export interface BudgetUse {
  consumerRuns: number
  costMicrodollars: number
  elapsedMs: number
}

/** Which budget is used up, if any. Pure. */
export function exhaustedBudget(budget: Budget, use: BudgetUse): 'iterations' | 'cost' | 'time' | undefined {
  if (use.consumerRuns >= budget.maxIterations) return 'iterations'
  if (budget.maxCostMicrodollars !== null && use.costMicrodollars >= budget.maxCostMicrodollars) return 'cost'
  if (budget.maxDurationMs !== null && use.elapsedMs >= budget.maxDurationMs) return 'time'
  return undefined
}
