/**
 * Producer schedules: interval strings (`30s`, `5m`, `2h`, `1d`) and cron expressions with an optional time zone.
 */
import { Cron } from 'croner'

const INTERVAL = /^(\d+)(s|m|h|d)$/
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
/** The shortest allowed interval. */
export const MIN_INTERVAL_MS = 1000

/** Pure; the interval in ms, or `undefined` when `text` is not a valid interval of at least 1 s. */
export function intervalMs(text: string): number | undefined {
  const match = INTERVAL.exec(text)
  if (match === null) return undefined
  const ms = Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? Number.NaN)
  return Number.isSafeInteger(ms) && ms >= MIN_INTERVAL_MS ? ms : undefined
}

/** Pure; the explanation used when an interval does not parse. */
export function intervalProblem(text: string): string {
  return `${JSON.stringify(text)} is not a valid interval (use a number followed by s, m, h or d, for example "30s" or "5m"; the minimum is 1s)`
}

/**
 * Parses an interval such as `"30s"`, `"5m"`, `"2h"` or `"1d"` into milliseconds. Pure; throws a `RangeError` for
 * anything else, including `ms` units and intervals under 1 s (a durable scheduler does not run sub-second work).
 *
 * ### Examples
 * ```ts
 * parseInterval('5m') // 300000
 * parseInterval('500ms') // throws RangeError
 * ```
 */
export function parseInterval(text: string): number {
  const ms = typeof text === 'string' ? intervalMs(text) : undefined
  if (ms === undefined) throw new RangeError(intervalProblem(String(text)))
  return ms
}

/** Pure apart from reading the host's time zone database; the problem with `timezone`, if any. */
export function timezoneProblem(timezone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone })
    return undefined
  } catch {
    return `${JSON.stringify(timezone)} is not a valid IANA time zone (for example "UTC" or "Europe/Paris")`
  }
}

/**
 * The problem with a cron expression (5 fields, or 6 with seconds first; croner nicknames such as `@daily` are
 * accepted), or `undefined` when it parses and matches at least one future time. Reads the clock.
 */
export function cronProblem(expression: string, timezone?: string): string | undefined {
  let job: Cron | undefined
  try {
    job = new Cron(expression, { timezone, mode: '5-or-6-parts', paused: true })
    if (job.nextRun() === null) return `${JSON.stringify(expression)} never matches a future time`
    return undefined
  } catch (error) {
    const reason = String((error as Error)?.message ?? error).replace(/^CronPattern:\s*/, '')
    return `${JSON.stringify(expression)} is not a valid cron expression (${reason}; use 5 fields "minute hour day month weekday", or 6 with seconds first)`
  } finally {
    job?.stop()
  }
}
