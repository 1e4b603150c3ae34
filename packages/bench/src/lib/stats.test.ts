import { describe, expect, it } from 'vitest'
import { groups } from '../sections/floor.js'
import { parseArgs } from '../plan.js'
import { distribution, median, quantile } from './stats.js'

describe('bench statistics', () => {
  it('takes medians and nearest-rank quantiles', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 2, 3])).toBe(2.5)
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9)
    expect(quantile([5], 0.99)).toBe(5)
    expect(Number.isNaN(median([]))).toBe(true)
    expect(distribution([1, 2, 3, 4])).toMatchObject({ n: 4, p50: 2, p99: 4 })
  })

  it('splits the floor statements into as many commits as the engine made, in order', () => {
    expect(groups([1, 2, 3, 4, 5, 6, 7], 3)).toEqual([[1, 2], [3, 4], [5, 6, 7]])
    expect(groups([1, 2, 3, 4, 5, 6, 7], 2)).toEqual([[1, 2, 3], [4, 5, 6, 7]])
    expect(groups([1, 2, 3], 9)).toEqual([[1], [2], [3]])
    expect(groups([1, 2, 3], 0.4)).toEqual([[1, 2, 3]])
  })

  it('parses the bench options, with three runs for --quick and five otherwise', () => {
    expect(parseArgs(['--quick'], 'out.json')).toMatchObject({ quick: true, runs: 3, only: [], out: 'out.json' })
    expect(parseArgs(['--runs', '7', '--only=pipeline,floor', '--out', 'x.json'], 'out.json')).toMatchObject({ quick: false, runs: 7, only: ['pipeline', 'floor'], out: 'x.json' })
    expect(() => parseArgs(['--fast'], 'out.json')).toThrow(/unknown option/)
  })
})
