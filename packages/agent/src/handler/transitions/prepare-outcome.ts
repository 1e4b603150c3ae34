/**
 * The consumer's decision after `prepare` ran: validate what it returned, then checkpoint `prepared` with the
 * reservations and the wake-up.
 */
import { type PrepareResult, formatIssues, prepareResultSchema } from '../../schemas.js'
import type { Decision, Effect, EvalResult, FailureInfo, PolicyContext, RunView } from './decision.js'
import { SUCCESS, failure } from './failure.js'

/** The consumer's checkpoint after `prepare` ran. Pure. */
export function prepareOutcome(
  run: RunView,
  result: EvalResult,
  consumer: { subscribe: readonly string[] },
  observedSequence: number,
  pc: PolicyContext,
): Decision {
  if (!result.ok) return failure(run, result.error, 'before', 'preparing', pc)
  const parsed = parsePrepareResult(run.handlerName, result.value, consumer.subscribe)
  if (!parsed.ok) return failure(run, parsed.error, 'before', 'preparing', pc)
  const { value, wakeAt } = parsed
  const reservations = value.reservations.filter((r) => r.ids.length > 0)
  const effects: Effect[] = []
  if (reservations.length > 0) effects.push({ type: 'reserve', reservations })
  // With nothing reserved the consumer is not eligible again until events newer than the ones it saw arrive.
  effects.push({
    type: 'wakeup',
    idleAfterSequence: reservations.length > 0 ? null : observedSequence,
    wakeAt: wakeAt === undefined ? null : Math.max(wakeAt, pc.now + 1000),
  })
  return { patch: { ...SUCCESS, phase: 'prepared', prepareResult: JSON.stringify(value) }, effects }
}

/** Validates what `prepare` returned. Pure. */
export function parsePrepareResult(
  consumer: string,
  value: unknown,
  subscribe: readonly string[],
): { ok: true; value: PrepareResult; wakeAt: number | undefined } | { ok: false; error: FailureInfo } {
  const parsed = prepareResultSchema.safeParse(value)
  if (!parsed.success) {
    return logic(
      `Consumer '${consumer}' prepare must return { reservations: [{ topic, ids: [messageId, ...] }], data?, ui?: { title? }, wakeAt? }; got ${preview(value)} (${formatIssues(parsed.error)})`,
    )
  }
  for (const r of parsed.data.reservations) {
    if (!subscribe.includes(r.topic)) {
      return logic(`Consumer '${consumer}' prepare reserved events of topic '${r.topic}', which it does not subscribe to`)
    }
  }
  let wakeAt: number | undefined
  const raw = parsed.data.wakeAt
  if (raw !== undefined) {
    wakeAt = typeof raw === 'number' ? raw : Date.parse(raw)
    if (!Number.isFinite(wakeAt)) return logic(`Consumer '${consumer}' prepare returned wakeAt ${JSON.stringify(raw)}, which is not a date`)
  }
  return { ok: true, value: parsed.data, wakeAt }
}

function logic(message: string): { ok: false; error: FailureInfo } {
  return { ok: false, error: { message, type: 'logic' } }
}

function preview(value: unknown): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value)
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}
