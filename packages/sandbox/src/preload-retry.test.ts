import { describe, expect, it } from 'vitest'
import { PRELOAD_RETRY_MAX_SKIPS, preloadWaits, refusedAgain } from './preload-retry.js'

describe('retrying a refused preload', () => {
  it('waits twice as many evaluations after each refusal in a row, up to a cap', () => {
    let refusal = refusedAgain(undefined, 'a')
    const waits: number[] = []
    for (let times = 1; times <= 12; times++) {
      waits.push(refusal.skips)
      refusal = refusedAgain(refusal, 'a')
    }
    expect(waits).toEqual([2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, PRELOAD_RETRY_MAX_SKIPS, PRELOAD_RETRY_MAX_SKIPS])
  })

  it('counts the refusals of another script from one', () => {
    expect(refusedAgain(refusedAgain(refusedAgain(undefined, 'a'), 'a'), 'b')).toEqual({ key: 'b', times: 1, skips: 2 })
  })

  it('lets a refused script wait its skips out, then try, and never holds up another script', () => {
    let refusal: ReturnType<typeof refusedAgain> | undefined = refusedAgain(undefined, 'a')
    expect(preloadWaits(refusal, 'b')).toBeUndefined()
    const tries: boolean[] = []
    for (let end = 0; end < 3; end++) {
      const waiting = preloadWaits(refusal, 'a')
      tries.push(waiting === undefined)
      if (waiting !== undefined) refusal = waiting
    }
    expect(tries).toEqual([false, false, true])
    expect(preloadWaits(undefined, 'a')).toBeUndefined()
  })
})
