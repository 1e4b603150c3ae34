import { describe, expect, it } from 'vitest'
import { ago, duration, money, shortId } from './values.js'

describe('shortId', () => {
  it.each([
    ['run_mwyzlhez0d87ba663525767d', 'run_3525767d'],
    ['run_1', 'run_1'],
    ['inbox-workflow-with-long-name', 'inbox-workflow-with-long-name'.slice(-8)],
    [null, '-'],
  ])('shortens %s to %s', (id, expected) => {
    expect(shortId(id)).toBe(expected)
  })
})

describe('time and money', () => {
  it.each([
    [850, '850ms'],
    [1234, '1.23s'],
    [12_345, '12.3s'],
    [245_000, '4m05s'],
    [7_800_000, '2h10m'],
    [190_000_000, '2d4h'],
  ])('formats a duration of %i ms as %s', (ms, text) => {
    expect(duration(ms)).toBe(text)
  })

  it.each([
    [999, 'just now'],
    [12_400, '12s ago'],
    [245_000, '4m ago'],
    [-120_000, 'in 2m'],
  ])('says how long ago %i ms was', (delta, text) => {
    expect(ago(1_000_000_000 - delta, 1_000_000_000)).toBe(text)
  })

  it.each([
    [0, '$0'],
    [120, '$0.000120'],
    [1_250_000, '$1.25'],
  ])('formats %i microdollars as %s', (m, text) => {
    expect(money(m)).toBe(text)
  })
})
