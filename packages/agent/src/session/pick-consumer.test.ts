import { describe, expect, it } from 'vitest'
import { exhaustedBudget, pickConsumer } from './pick-consumer.js'

const consumers = [
  { name: 'a', subscribe: ['t1'] },
  { name: 'b', subscribe: ['t2'] },
  { name: 'c', subscribe: ['t1', 't3'] },
]
const bounds = (entries: Array<[string, number, number]>) => new Map(entries.map(([t, o, n]) => [t, { oldestSequence: o, newestSequence: n }]))

describe('pickConsumer', () => {
  it('picks the consumer whose oldest pending event is oldest', () => {
    expect(pickConsumer(consumers, bounds([['t1', 10, 12], ['t2', 5, 5]]), new Map(), 0)).toBe('b')
  })

  it('breaks ties by declaration order', () => {
    expect(pickConsumer(consumers, bounds([['t1', 3, 3]]), new Map(), 0)).toBe('a')
  })

  it('returns undefined when nothing is pending and nobody is due to wake', () => {
    expect(pickConsumer(consumers, new Map(), new Map([['a', { idleAfterSequence: null, wakeAt: 500 }]]), 100)).toBeUndefined()
  })

  it('skips a consumer that declined every pending event until a newer one arrives', () => {
    const idle = new Map([['a', { idleAfterSequence: 12, wakeAt: null }]])
    expect(pickConsumer([consumers[0]!], bounds([['t1', 10, 12]]), idle, 0)).toBeUndefined()
    expect(pickConsumer([consumers[0]!], bounds([['t1', 10, 13]]), idle, 0)).toBe('a')
  })

  it('wakes a consumer whose wakeAt has come, before consumers with events', () => {
    const wake = new Map([['b', { idleAfterSequence: null, wakeAt: 50 }]])
    expect(pickConsumer(consumers, bounds([['t1', 1, 1]]), wake, 50)).toBe('b')
    expect(pickConsumer(consumers, bounds([['t1', 1, 1]]), wake, 49)).toBe('a')
  })

  it('considers every subscribed topic of a consumer', () => {
    expect(pickConsumer(consumers, bounds([['t3', 2, 2], ['t2', 4, 4]]), new Map(), 0)).toBe('c')
  })
})

describe('exhaustedBudget', () => {
  const budget = { maxIterations: 3, maxCostMicrodollars: 100, maxDurationMs: 1000 }
  it.each([
    [{ consumerRuns: 3, costMicrodollars: 0, elapsedMs: 0 }, 'iterations'],
    [{ consumerRuns: 0, costMicrodollars: 100, elapsedMs: 0 }, 'cost'],
    [{ consumerRuns: 0, costMicrodollars: 0, elapsedMs: 1000 }, 'time'],
    [{ consumerRuns: 2, costMicrodollars: 99, elapsedMs: 999 }, undefined],
  ] as const)('reports %o as %s', (use, expected) => {
    expect(exhaustedBudget(budget, use)).toBe(expected)
  })

  it('ignores budgets that are not set', () => {
    expect(exhaustedBudget({ maxIterations: 10, maxCostMicrodollars: null, maxDurationMs: null }, { consumerRuns: 1, costMicrodollars: 1e9, elapsedMs: 1e9 })).toBeUndefined()
  })
})
