import { describe, expect, it } from 'vitest'
import { nextRunAfter, scheduleOf } from './schedule-math.js'

const at = (iso: string) => Date.parse(iso)

describe('nextRunAfter', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
  ])('adds the interval %s to the time the producer ran', (expression, ms) => {
    const now = at('2026-01-01T12:00:07.123Z')
    expect(nextRunAfter({ kind: 'interval', expression, timezone: null }, now)).toBe(now + ms)
  })

  it('coalesces missed slots: the next run is one interval after the late run, not after the missed slot', () => {
    const spec = { kind: 'interval' as const, expression: '5m', timezone: null }
    const late = at('2026-01-01T12:50:00Z') // ten slots after 12:00
    expect(nextRunAfter(spec, late)).toBe(at('2026-01-01T12:55:00Z'))
  })

  it.each([
    ['*/15 * * * *', 'UTC', '2026-01-01T12:07:00Z', '2026-01-01T12:15:00Z'],
    ['0 9 * * *', 'UTC', '2026-01-01T12:00:00Z', '2026-01-02T09:00:00Z'],
    ['0 9 * * *', 'America/New_York', '2026-01-01T12:00:00Z', '2026-01-01T14:00:00Z'],
    ['0 9 * * *', 'America/New_York', '2026-07-01T12:00:00Z', '2026-07-01T13:00:00Z'],
    ['0 9 * * *', 'Europe/Paris', '2026-01-01T07:59:00Z', '2026-01-01T08:00:00Z'],
    ['0 9 * * 1', 'UTC', '2026-01-01T12:00:00Z', '2026-01-05T09:00:00Z'],
    ['30 0 9 * * *', 'UTC', '2026-01-01T08:00:00Z', '2026-01-01T09:00:30Z'],
  ])('finds the next time of cron %s in %s after %s', (expression, timezone, after, expected) => {
    expect(new Date(nextRunAfter({ kind: 'cron', expression, timezone }, at(after))).toISOString()).toBe(new Date(at(expected)).toISOString())
  })

  it('crosses a daylight saving change at the same wall-clock time', () => {
    const spec = { kind: 'cron' as const, expression: '0 9 * * *', timezone: 'America/New_York' }
    // 2026-03-08 is the first day of EDT: 09:00 is 13:00Z instead of 14:00Z.
    const first = nextRunAfter(spec, at('2026-03-07T14:00:00Z'))
    expect(new Date(first).toISOString()).toBe('2026-03-08T13:00:00.000Z')
  })

  it('is strictly after the given time, even on a cron slot', () => {
    const spec = { kind: 'cron' as const, expression: '*/5 * * * *', timezone: 'UTC' }
    expect(nextRunAfter(spec, at('2026-01-01T12:05:00Z'))).toBe(at('2026-01-01T12:10:00Z'))
  })

  it('uses UTC for a cron schedule stored without a time zone', () => {
    expect(nextRunAfter({ kind: 'cron', expression: '0 9 * * *', timezone: null }, at('2026-01-01T00:00:00Z'))).toBe(at('2026-01-01T09:00:00Z'))
  })

  it('throws for an invalid expression', () => {
    expect(() => nextRunAfter({ kind: 'interval', expression: '5 minutes', timezone: null }, 0)).toThrow(RangeError)
    expect(() => nextRunAfter({ kind: 'cron', expression: 'every day', timezone: 'UTC' }, 0)).toThrow()
    expect(() => nextRunAfter({ kind: 'cron', expression: '0 0 9 * * * 2027', timezone: 'UTC' }, 0)).toThrow()
  })
})

describe('scheduleOf', () => {
  it('reads an interval schedule', () => {
    expect(scheduleOf({ name: 'p', publishes: [], schedule: { interval: '5m' } })).toEqual({ kind: 'interval', expression: '5m', timezone: null })
  })

  it('reads a cron schedule, defaulting its time zone to UTC', () => {
    expect(scheduleOf({ name: 'p', publishes: [], schedule: { cron: '0 9 * * *' } })).toEqual({ kind: 'cron', expression: '0 9 * * *', timezone: 'UTC' })
    expect(scheduleOf({ name: 'p', publishes: [], schedule: { cron: '0 9 * * *', timezone: 'Asia/Tokyo' } })).toMatchObject({ timezone: 'Asia/Tokyo' })
  })
})
