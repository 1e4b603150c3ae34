import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { poolStats } from './pool-stats.js'
import { type LoopMeter, QUIET_MAX_UTILIZATION, QUIET_MS, QuietWatch, wasQuiet } from './quiet-watch.js'
import { FAST_LIMITS, consumer, recordingHost, request, success } from './test-helpers/harness.js'
import type { SandboxRunner } from './types.js'

/** A loop meter that reports what the test sets. */
function meter(): LoopMeter & { utilization: number } {
  const fake = { utilization: 0, mark: () => undefined, utilizationSince: () => fake.utilization }
  return fake
}

describe('wasQuiet', () => {
  it('holds only for a window without starts or ends, with nothing in flight and a mostly idle loop', () => {
    expect(wasQuiet({ activity: 0, utilization: 0.1, inFlight: 0 })).toBe(true)
    expect(wasQuiet({ activity: 0, utilization: QUIET_MAX_UTILIZATION, inFlight: 0 })).toBe(true)
    expect(wasQuiet({ activity: 1, utilization: 0.1, inFlight: 0 })).toBe(false)
    expect(wasQuiet({ activity: 0, utilization: 0.1, inFlight: 1 })).toBe(false)
    expect(wasQuiet({ activity: 0, utilization: QUIET_MAX_UTILIZATION + 0.01, inFlight: 0 })).toBe(false)
  })
})

describe('QuietWatch', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it(`says the thread is quiet after ${QUIET_MS} ms without an evaluation, and not from the next start`, async () => {
    vi.useFakeTimers()
    const onQuiet = vi.fn()
    const watch = new QuietWatch({ inFlight: () => 0, onQuiet, loop: meter() })
    onTestFinished(() => watch.close())
    expect(watch.quiet).toBe(false)
    const quiet = watch.whenQuiet()
    vi.advanceTimersByTime(QUIET_MS)
    await quiet
    expect(watch.quiet).toBe(true)
    expect(onQuiet).toHaveBeenCalledTimes(1)
    watch.touch('start')
    expect(watch.quiet).toBe(false)
  })

  it('waits while an evaluation is in flight, and starts its window at the evaluation end', () => {
    vi.useFakeTimers()
    let inFlight = 0
    const onQuiet = vi.fn()
    const watch = new QuietWatch({ inFlight: () => inFlight, onQuiet, loop: meter() })
    onTestFinished(() => watch.close())
    inFlight = 1
    watch.touch('start')
    vi.advanceTimersByTime(QUIET_MS * 50)
    expect(watch.quiet).toBe(false)
    inFlight = 0
    watch.touch()
    vi.advanceTimersByTime(QUIET_MS - 0.5)
    expect(onQuiet).not.toHaveBeenCalled()
    vi.advanceTimersByTime(0.5)
    expect(onQuiet).toHaveBeenCalledTimes(1)
    expect(watch.quiet).toBe(true)
  })

  it('is not quiet while the event loop is busy with other work, and is once that stops', () => {
    vi.useFakeTimers()
    const loop = meter()
    loop.utilization = 0.9
    const onQuiet = vi.fn()
    const watch = new QuietWatch({ inFlight: () => 0, onQuiet, loop })
    onTestFinished(() => watch.close())
    vi.advanceTimersByTime(QUIET_MS * 20)
    expect(onQuiet).not.toHaveBeenCalled()
    loop.utilization = 0.2
    vi.advanceTimersByTime(QUIET_MS)
    expect(onQuiet).toHaveBeenCalledTimes(1)
  })

  it('starts the window again at every start or end inside it', () => {
    vi.useFakeTimers()
    const onQuiet = vi.fn()
    const watch = new QuietWatch({ inFlight: () => 0, onQuiet, loop: meter() })
    onTestFinished(() => watch.close())
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(QUIET_MS / 2)
      watch.touch()
    }
    expect(onQuiet).not.toHaveBeenCalled()
    vi.advanceTimersByTime(QUIET_MS * 2)
    expect(onQuiet).toHaveBeenCalledTimes(1)
  })

  it('lets waiters go when it is closed', async () => {
    vi.useFakeTimers()
    const watch = new QuietWatch({ inFlight: () => 1, onQuiet: () => {}, loop: meter() })
    const waiting = watch.whenQuiet()
    watch.close()
    await expect(waiting).resolves.toBeUndefined()
    expect(watch.quiet).toBe(false)
  })
})

describe('createSandboxRunner with threads and a pool on the calling thread', () => {
  /** A runner with one sandbox thread and a calling-thread pool, closed after the test. */
  function hybrid(): SandboxRunner {
    const runner = createSandboxRunner({ limits: FAST_LIMITS, threads: 1, pool: { size: 2 }, callerPool: { size: 2 } })
    onTestFinished(() => runner.close())
    return runner
  }
  /**
   * Waits (polling on timers, which leave the event loop idle) until the calling thread has preloaded a script since
   * `before`. On a busy machine a preload can overrun its CPU cap and be refused; the script's next evaluations then
   * end without one (see `refusedAgain`), so after 3 s without a preload `again` evaluates once more and the wait
   * starts over (at most 8 times).
   */
  async function preloadedHere(before: number, again: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await vi.waitFor(() => expect(poolStats.preloaded).toBeGreaterThan(before), { timeout: 3_000, interval: 5 })
      } catch (error) {
        if (attempt === 8) throw error
        await again()
      }
    }
  }

  it('evaluates on the calling thread once the process is idle and the script is loaded there', async () => {
    const runner = hybrid()
    const code = consumer('async prepare(n) { const r = await Email.send({ n }); return [n, r.index] }')
    const recording = recordingHost()
    // Two evaluations in a row on the thread: the calling thread's pool learns which script comes next.
    expect(success(await runner.evaluate(request(code, { args: [0], recording })))).toEqual([0, 0])
    const before = poolStats.preloaded
    expect(success(await runner.evaluate(request(code, { args: [1], recording })))).toEqual([1, 0])
    await preloadedHere(before, () => runner.evaluate(request(code, { args: [1] })))
    const taken = poolStats.preloadsTaken
    expect(success(await runner.evaluate(request(code, { args: [2], recording })))).toEqual([2, 0])
    expect(poolStats.preloadsTaken).toBe(taken + 1)
    expect(recording.calls.map((c) => c.input)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }])
  })

  it('gives every evaluation on the calling thread a fresh instance: nothing of the previous one remains', async () => {
    const runner = hybrid()
    const code = `let count = 0;\n${consumer('prepare() { count += 1; globalThis.seen = (globalThis.seen ?? 0) + 1; return [count, globalThis.seen] }')}`
    const taken = poolStats.preloadsTaken
    for (let i = 0; i < 6; i++) {
      const before = poolStats.preloaded
      expect(success(await runner.evaluate(request(code)))).toEqual([1, 1])
      if (i >= 1) await preloadedHere(before, async () => expect(success(await runner.evaluate(request(code)))).toEqual([1, 1]))
    }
    // At least the evaluations after the second ran here, each in an instance of its own.
    expect(poolStats.preloadsTaken - taken).toBeGreaterThanOrEqual(3)
  })

  it('keeps back-to-back evaluations on the thread: a busy process loads nothing on its own thread', async () => {
    const runner = hybrid()
    const code = consumer('prepare(n) { return n * 2 }')
    const preloaded = poolStats.preloaded
    const taken = poolStats.preloadsTaken
    for (let i = 0; i < 40; i++) expect(success(await runner.evaluate(request(code, { args: [i] })))).toBe(i * 2)
    expect(poolStats.preloaded).toBe(preloaded)
    expect(poolStats.preloadsTaken).toBe(taken)
  })

  it('reports a failing script the same way on the calling thread as on the thread', async () => {
    const runner = hybrid()
    const code = consumer('prepare(n) { if (n > 1) throw new TypeError("bad n " + n); return n }')
    expect(success(await runner.evaluate(request(code, { args: [0] })))).toBe(0)
    const before = poolStats.preloaded
    expect(success(await runner.evaluate(request(code, { args: [1] })))).toBe(1)
    await preloadedHere(before, () => runner.evaluate(request(code, { args: [1] })))
    const taken = poolStats.preloadsTaken
    const outcome = await runner.evaluate(request(code, { args: [2] }))
    expect(poolStats.preloadsTaken).toBe(taken + 1)
    expect(outcome.ok).toBe(false)
    if (!outcome.ok) {
      expect(outcome.error.code).toBe('script_error')
      expect(outcome.error.message).toContain('bad n 2')
    }
  })

  it('refuses a callerPool size outside 0–64', () => {
    expect(() => createSandboxRunner({ threads: 1, callerPool: { size: -1 } })).toThrow(/callerPool.size/)
    expect(() => createSandboxRunner({ threads: 1, callerPool: { size: 65 } })).toThrow(RangeError)
  })
})
