/**
 * Producer schedule arithmetic. Pure; does not execute effects. Missed runs coalesce: the next run is computed from
 * the time the producer actually runs, never by replaying every missed slot.
 */
import { Cron } from 'croner'
import { parseInterval } from '@ledgerflow/sandbox'
import type { HandlerConfig } from '../schemas.js'

/** A producer schedule as stored. */
export interface ScheduleSpec {
  kind: 'interval' | 'cron'
  expression: string
  timezone: string | null
}

/** The schedule of a producer of a handler config. */
export function scheduleOf(producer: HandlerConfig['producers'][number]): ScheduleSpec {
  const s = producer.schedule
  if ('interval' in s) return { kind: 'interval', expression: s.interval, timezone: null }
  return { kind: 'cron', expression: s.cron, timezone: s.timezone ?? 'UTC' }
}

/** The first run time strictly after `after` (epoch ms). Throws for an invalid expression. */
export function nextRunAfter(spec: ScheduleSpec, after: number): number {
  if (spec.kind === 'interval') return after + parseInterval(spec.expression)
  // The same parsing mode as the validator (`cronProblem` in the sandbox package), so what deploys is what runs.
  const cron = new Cron(spec.expression, { timezone: spec.timezone ?? 'UTC', mode: '5-or-6-parts', paused: true })
  const next = cron.nextRun(new Date(after))
  if (!next) throw new RangeError(`cron expression '${spec.expression}' has no future run`)
  return next.getTime()
}
