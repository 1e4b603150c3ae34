import { describe, expect, it } from 'vitest'
import { cronProblem, intervalMs, parseInterval, timezoneProblem } from './schedule.js'

describe('parseInterval', () => {
  it.each([
    ['1s', 1000],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['90m', 5_400_000],
    ['007s', 7000],
  ])('parses %s as %i ms', (text, ms) => {
    expect(parseInterval(text)).toBe(ms)
  })

  it.each(['', '5', 'm', '5x', '1ms', '500ms', '0s', '0m', '-1s', '1.5h', ' 5m', '5m ', '5 m', '5M', '1w', '99999999999999999999d'])(
    'throws a RangeError explaining the format for %j',
    (text) => {
      expect(() => parseInterval(text)).toThrow(RangeError)
      expect(() => parseInterval(text)).toThrow(`${JSON.stringify(text)} is not a valid interval (use a number followed by s, m, h or d, for example "30s" or "5m"; the minimum is 1s)`)
    },
  )

  it('returns undefined from intervalMs instead of throwing', () => {
    expect(intervalMs('5x')).toBeUndefined()
    expect(intervalMs('2s')).toBe(2000)
  })
})

describe('cronProblem and timezoneProblem', () => {
  it.each(['*/5 * * * *', '0 3 * * 1-5', '0 */10 * * * *', '0 0 L * *', '@daily', '@hourly'])('accepts %j', (expression) => {
    expect(cronProblem(expression)).toBeUndefined()
  })

  it.each([
    ['61 * * * *', /Invalid value for minute: 61/],
    ['* * *', /five, six, or seven/],
    ['0 0 0 * * * *', /7 parts/],
    ['a b c d e', /illegal characters/],
    ['@reboot', /not supported/],
  ])('explains why %j is not a valid cron expression', (expression, reason) => {
    expect(cronProblem(expression)).toMatch(reason)
    expect(cronProblem(expression)).toMatch(/^".*" is not a valid cron expression \(.*; use 5 fields "minute hour day month weekday", or 6 with seconds first\)$/)
  })

  it('reports a cron expression that can never fire', () => {
    expect(cronProblem('0 0 31 2 *')).toBe('"0 0 31 2 *" never matches a future time')
  })

  it('accepts IANA time zones and refuses unknown ones', () => {
    expect(timezoneProblem('UTC')).toBeUndefined()
    expect(timezoneProblem('America/New_York')).toBeUndefined()
    expect(timezoneProblem('Moon/Tranquility')).toBe('"Moon/Tranquility" is not a valid IANA time zone (for example "UTC" or "Europe/Paris")')
    expect(timezoneProblem('+01:00')).toBeDefined()
  })
})
