import { describe, expect, it } from 'vitest'
import { type Executor, withTransientRetry } from './executor.js'

const deadlock = () => Object.assign(new Error('deadlock detected'), { code: '40P01' })
const executor = (isTransaction: boolean) => ({ isTransaction }) as unknown as Executor

describe('withTransientRetry', () => {
  it('runs a statement of its own again after a deadlock, and returns what the next attempt returns', async () => {
    let attempts = 0
    const result = await withTransientRetry(executor(false), async () => {
      attempts++
      if (attempts < 3) throw deadlock()
      return 'done'
    })
    expect([result, attempts]).toEqual(['done', 3])
  })

  it('gives up after five attempts with the last error', async () => {
    let attempts = 0
    const run = withTransientRetry(executor(false), async () => {
      attempts++
      throw deadlock()
    })
    await expect(run).rejects.toThrow('deadlock detected')
    expect(attempts).toBe(5)
  })

  it('runs once inside a caller transaction, and never again after an error that is not transient', async () => {
    let inside = 0
    await expect(withTransientRetry(executor(true), async () => (inside++, Promise.reject(deadlock())))).rejects.toThrow('deadlock')
    let other = 0
    await expect(withTransientRetry(executor(false), async () => (other++, Promise.reject(new Error('syntax error'))))).rejects.toThrow('syntax error')
    expect([inside, other]).toEqual([1, 1])
  })
})
