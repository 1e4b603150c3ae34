import { afterAll, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { flushDisposals, instanceStats } from './quickjs-instance.js'
import { MAX_GUEST_STACK_BYTES } from './shadow-stack.js'
import { RUNNER_VARIANTS, FAST_LIMITS, MARGIN_MS, consumer, expectHealthy, failure, recordingHost, request, success, timed } from './test-helpers/harness.js'
import type { SandboxErrorCode, SandboxLimits } from './types.js'

// Hostile scripts: each must end with its own classified error within its limit plus a generous margin (the
// machine is noisy), and the next evaluation in the same process must still work.
// Every behaviour holds on the calling thread and in a worker thread alike.
describe.each(RUNNER_VARIANTS)('on the $name', ({ options }) => {
  const runner = createSandboxRunner({ limits: FAST_LIMITS, ...options })
  afterAll(() => runner.close())

  async function expectStopped(code: string, expected: SandboxErrorCode, budgetMs: number, limits?: Partial<SandboxLimits>) {
    const { outcome, ms } = await timed(runner, request(code, { limits }))
    const error = failure(outcome, expected)
    expect(ms).toBeLessThan(budgetMs + MARGIN_MS)
    await expectHealthy(runner)
    return { error, ms }
  }

  describe('hostile scripts: CPU time', () => {
    const timeout = FAST_LIMITS.timeoutMs ?? 0
    it.each([
      ['an endless loop in a handler', consumer('prepare() { while (true) {} }')],
      ['an endless loop after an await', consumer('async prepare() { await Email.send({}); while (true) {} }')],
      ['an endless loop in a promise job', consumer('prepare() { return Promise.resolve().then(() => { for (;;) {} }) }')],
      ['an endless loop in top-level code', `while (true) {}\n${consumer('prepare() {}')}`],
      ['a loop that catches the interrupt and loops again', consumer('prepare() { for (;;) { try { while (true) {} } catch (e) {} } }')],
      ['a catastrophic regular expression', consumer('prepare() { return /(a+)+$/.test("a".repeat(40) + "b") }')],
      ['an endless chain of microtasks', consumer('prepare() { const spin = () => Promise.resolve().then(spin); spin(); return new Promise(() => {}) }')],
    ])('stops %s with sandbox_timeout', async (_, code) => {
      const { error } = await expectStopped(code, 'sandbox_timeout', timeout)
      expect(error).toMatchObject({ type: 'logic', name: 'TimeoutError' })
    })

    it('keeps interrupting after the deadline, so code that runs after the handler settled is stopped too', async () => {
      // The loop is queued behind the job that settles the handler's result.
      const code = consumer('prepare() { Promise.resolve().then(() => Promise.resolve()).then(() => { for (;;) {} }); return "done" }')
      const { outcome, ms } = await timed(runner, request(code))
      expect(success(outcome)).toBe('done')
      expect(ms).toBeLessThan(MARGIN_MS)
    })
  })

  describe('hostile scripts: memory', () => {
    // A generous CPU budget, so that the memory cap is what stops these scripts.
    const limits = { timeoutMs: 5000 }
    it.each([
      ['arrays of arrays', 'prepare() { const a = []; while (true) a.push(new Array(1e5)); }'],
      ['filled arrays', 'prepare() { const a = []; while (true) a.push(new Array(1e5).fill(1)); }'],
      ['doubling strings that are read', 'prepare() { let s = "x"; for (;;) { s = s + s; s.charCodeAt(s.length - 1); s = s.slice(1) + "y"; } }'],
      ['kept strings', 'prepare() { const k = []; for (let i = 0; ; i++) k.push("xy".repeat(1e5) + i); }'],
      ['typed arrays', 'prepare() { const a = []; for (;;) a.push(new Uint8Array(1e6).fill(1)); }'],
      ['many small objects', 'prepare() { const a = []; for (let i = 0; ; i++) a.push({ i, s: "v" + i }); }'],
      ['one huge buffer', 'prepare() { return new ArrayBuffer(1e9).byteLength }'],
      ['a loop that catches out-of-memory and retries', 'prepare() { for (;;) { try { const a = []; while (true) a.push(new Array(1e5).fill(1)); } catch (e) {} } }'],
    ])('stops %s with sandbox_memory', async (_, members) => {
      const { error } = await expectStopped(consumer(members), 'sandbox_memory', limits.timeoutMs, limits)
      expect(error).toMatchObject({ type: 'logic', name: 'OutOfMemoryError' })
    })

    it('reports the memory cap even when the script caught the error and returned normally', async () => {
      const code = consumer('prepare() { try { const a = []; while (true) a.push(new Array(1e5).fill(1)); } catch (e) { return "recovered" } }')
      await expectStopped(code, 'sandbox_memory', limits.timeoutMs, limits)
    })

    it('does not expose WebAssembly to the guest', async () => {
      expect(success(await runner.evaluate(request(consumer('prepare() { return typeof WebAssembly }'))))).toBe('undefined')
    })

    it('lets a script use memory well under the limit', async () => {
      const code = consumer('prepare() { const a = []; for (let i = 0; i < 100; i++) a.push(new Array(1e4).fill(i)); return a.length }')
      expect(success(await runner.evaluate(request(code, { limits })))).toBe(100)
    })
  })

  describe('hostile scripts: stack', () => {
    it('stops deep recursion with sandbox_stack_overflow', async () => {
      const { error } = await expectStopped(consumer('prepare() { const f = (n) => f(n + 1) + 1; return f(0) }'), 'sandbox_stack_overflow', 0)
      expect(error.name).toBe('StackOverflowError')
    })

    it('lets the script catch a stack overflow like any error', async () => {
      const code = consumer('prepare() { const f = (n) => f(n + 1) + 1; try { return f(0) } catch (e) { return e.message } }')
      expect(success(await runner.evaluate(request(code)))).toBe('stack overflow')
    })

    it('survives the largest stack limit, where the host stack may overflow first', async () => {
      // On the calling thread V8's native stack overflows before QuickJS's check fires; in a worker thread it does not.
      const code = consumer('prepare() { const f = (n) => f(n + 1) + 1; return f(0) }')
      await expectStopped(code, 'sandbox_stack_overflow', 0, { maxStackBytes: MAX_GUEST_STACK_BYTES })
    })
  })

  describe('hostile scripts: wall clock and abort', () => {
    it('stops an evaluation waiting on a host call that never settles with sandbox_wall_timeout', async () => {
      const { error } = await expectStopped(consumer('async prepare() { await Email.never({}); }'), 'sandbox_wall_timeout', 300, { wallTimeoutMs: 300 })
      expect(error.name).toBe('TimeoutError')
    })

    it('ends at once a handler that waits for a promise nothing can settle, instead of waiting for the wall clock', async () => {
      const { outcome, ms } = await timed(runner, request(consumer('async prepare() { await Email.send({}); await new Promise(() => {}) }'), { limits: { wallTimeoutMs: 30_000 } }))
      expect(failure(outcome, 'script_error')).toMatchObject({ type: 'logic', name: 'DeadlockError' })
      expect(ms).toBeLessThan(MARGIN_MS)
    })

    it('ignores a host result that arrives after the evaluation ended', async () => {
      const recording = recordingHost({ send: () => new Promise((resolve) => setTimeout(() => resolve('late'), 400)) })
      const outcome = await runner.evaluate(request(consumer('async prepare() { return await Email.send({}) }'), { recording, limits: { wallTimeoutMs: 100 } }))
      failure(outcome, 'sandbox_wall_timeout')
      await new Promise((resolve) => setTimeout(resolve, 500))
      await expectHealthy(runner)
    })

    it('returns aborted at once for a signal aborted before the evaluation', async () => {
      const recording = recordingHost()
      const outcome = await runner.evaluate(request(consumer('async prepare() { await Email.send({}) }'), { recording, signal: AbortSignal.abort() }))
      expect(failure(outcome, 'aborted').name).toBe('AbortError')
      expect(recording.calls).toEqual([])
    })

    it('aborts an evaluation waiting on the host', async () => {
      const controller = new AbortController()
      const recording = recordingHost({ send: async () => { controller.abort(); return new Promise<never>(() => {}) } })
      const { outcome, ms } = await timed(runner, request(consumer('async prepare() { await Email.send({}) }'), { recording, signal: controller.signal }))
      failure(outcome, 'aborted')
      expect(ms).toBeLessThan(MARGIN_MS)
    })

    it('aborts an evaluation while guest code runs', async () => {
      const controller = new AbortController()
      const req = request(consumer('prepare() { console.log("go"); while (true) {} }'), {
        signal: controller.signal,
        onConsole: () => controller.abort(),
        limits: { timeoutMs: 30_000 },
      })
      const { outcome, ms } = await timed(runner, req)
      failure(outcome, 'aborted')
      expect(ms).toBeLessThan(MARGIN_MS)
      await expectHealthy(runner)
    })
  })
})

describe('hostile scripts: instance lifecycle', () => {
  it('releases every instance it created: disposed, or discarded when its state is undefined', async () => {
    // A runner on this thread without a pool, so that every instance this test counts is one of its own.
    const runner = createSandboxRunner({ limits: FAST_LIMITS })
    // The first evaluation on a thread may also take its instance image, which keeps an instance of its own.
    expect(success(await runner.evaluate(request(consumer('prepare() { return 1 }'))))).toBe(1)
    flushDisposals()
    const before = { ...instanceStats }
    const delta = (key: keyof typeof instanceStats) => instanceStats[key] - before[key]
    const scripts: Array<[string, SandboxErrorCode | undefined]> = [
      [consumer('prepare() { return 1 }'), undefined],
      [consumer('prepare() { while (true) {} }'), 'sandbox_timeout'],
      [consumer('prepare() { const a = []; for (;;) a.push(new Array(1e5).fill(1)) }'), 'sandbox_memory'],
      [consumer('async prepare() { await Email.fail({}) }'), 'script_error'],
      [consumer('prepare() { const f = () => f(); return f() }'), 'sandbox_stack_overflow'],
    ]
    for (let round = 0; round < 5; round++) {
      for (const [code, expected] of scripts) {
        const outcome = await runner.evaluate(request(code))
        if (expected === undefined) expect(success(outcome)).toBe(1)
        else failure(outcome, expected)
      }
    }
    await runner.close()
    flushDisposals()
    expect(delta('created')).toBe(25)
    // A failed disposal (QuickJS teardown assertions after some interrupts) also ends with the instance dropped.
    expect(delta('disposed') + delta('discarded') + delta('disposeFailures')).toBe(delta('created'))
    expect(delta('disposed')).toBeGreaterThan(delta('created') / 2)
  })
})
