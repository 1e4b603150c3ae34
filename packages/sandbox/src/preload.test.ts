import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { runPlan } from './run-plan.js'
import { PRELOAD_CPU_MS } from './evaluation.js'
import { planEvaluation } from './evaluation-plan.js'
import { InstancePool, PRELOAD_MAX_AGE_MS } from './instance-pool.js'
import { preloadKey } from './preload-key.js'
import { resolveLimits } from './limits.js'
import { poolStats } from './pool-stats.js'
import { FAST_LIMITS, consumer, recordingHost, request, success } from './test-helpers/harness.js'
import type { EvaluationOutcome, EvaluationRequest, SandboxRunner } from './types.js'

// Every test gets runners of its own, so no preload is left over from another test.
let preloading: SandboxRunner
let loadingEachTime: SandboxRunner
beforeEach(() => {
  preloading = createSandboxRunner({ limits: FAST_LIMITS, pool: { size: 2 }, preload: true })
  loadingEachTime = createSandboxRunner({ limits: FAST_LIMITS, pool: { size: 2 }, preload: false })
})
afterEach(async () => {
  await Promise.all([preloading.close(), loadingEachTime.close()])
})

/** Turns of the event loop: a pool preloads and refills between evaluations. */
async function idle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Resolves once this thread's pools have preloaded a script since `before` (a pool may first create instances). */
async function preloadedSince(before: typeof poolStats): Promise<void> {
  for (let turn = 0; poolStats.preloaded === before.preloaded; turn++) {
    if (turn > 20_000) throw new Error('no preload happened')
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** An outcome without its timings. */
type Seen = { ok: true; value: unknown; hostCalls: number } | { ok: false; error: unknown; hostCalls: number }

/** `times` evaluations of the request `make(i)` builds, with idle turns between them. */
async function evaluateInARow(runner: SandboxRunner, make: (i: number) => EvaluationRequest, times = 4): Promise<Seen[]> {
  const outcomes: Seen[] = []
  for (let i = 0; i < times; i++) {
    const outcome: EvaluationOutcome = await runner.evaluate(make(i))
    const { hostCalls } = outcome.stats
    outcomes.push(outcome.ok ? { ok: true, value: outcome.value, hostCalls } : { ok: false, error: outcome.error, hostCalls })
    await idle()
  }
  return outcomes
}

/**
 * Evaluations of `make(i)` in a row, with idle turns between them, until `wanted` of them took a preload (at most
 * `max`). Whether a given evaluation finds its preload ready depends on the machine (a busy one can leave the pool
 * empty when the preload is due, or cut the load at the CPU cap), so a test asks for a number of preloads taken, not
 * for which evaluations take them.
 */
async function evaluateUntilTaken(runner: SandboxRunner, make: (i: number) => EvaluationRequest, wanted: number, max = 16): Promise<Seen[]> {
  const before = counters()
  const outcomes: Seen[] = []
  for (let i = 0; i < max && (i < 2 || delta(before).taken < wanted); i++) {
    outcomes.push(...(await evaluateInARow(runner, () => make(i), 1)))
  }
  return outcomes
}

const counters = () => ({ ...poolStats })
const delta = (before: typeof poolStats) => ({
  taken: poolStats.preloadsTaken - before.preloadsTaken,
  unused: poolStats.preloadsUnused - before.preloadsUnused,
  refused: poolStats.notPreloadable - before.notPreloadable,
})

describe('scripts loaded ahead of their next evaluation', () => {
  it('loads a script evaluated twice in a row ahead of the next evaluation, which reports its top-level lines', async () => {
    const code = `console.log("top level");\n${consumer('async prepare(n) { console.log("handler", n); return n * 2 }')}`
    const recording = recordingHost()
    const before = counters()
    const outcomes = await evaluateUntilTaken(preloading, (i) => request(code, { args: [i], recording }), 2)
    const rows = outcomes.map((_, i) => i)
    expect(outcomes.map((o) => o.ok && o.value)).toEqual(rows.map((i) => i * 2))
    expect(delta(before).taken).toBeGreaterThanOrEqual(2)
    expect(recording.logs).toEqual(rows.flatMap((i) => [['log', 'top level'], ['log', `handler ${i}`]]))
  })

  it('gives every evaluation an instance nothing else ran in', async () => {
    const code = `globalThis.loads = (globalThis.loads || 0) + 1;\n${consumer(`prepare() {
      const seen = [globalThis.loads, typeof globalThis.leak, Object.prototype.polluted];
      globalThis.leak = 1; Object.prototype.polluted = 1;
      return seen;
    }`)}`
    const before = counters()
    const outcomes = await evaluateUntilTaken(preloading, () => request(code), 3)
    expect(delta(before).taken).toBeGreaterThanOrEqual(3)
    // JSON carries `undefined` in an array as null.
    for (const outcome of outcomes) expect(outcome.ok && outcome.value).toEqual([1, 'undefined', null])
  })

  it('reports the same outcomes, logs, errors and tool calls as loading the script in each evaluation', async () => {
    const scripts = {
      'a handler with tool calls': consumer('async prepare(n) { const r = await Email.send({ n }); console.info("sent", r.index); return r }'),
      'a handler that throws': consumer('prepare() {\n  throw new RangeError("no room")\n}'),
      'a top level that throws': 'console.warn("about to throw");\nthrow new TypeError("broken at load");\nconst workflow = {};',
      'a syntax error': 'const workflow = { consumers: { T: { prepare() { return 1 } } } ;',
      'a missing handler': consumer('mutate() { return 1 }'),
      'a failed tool call': consumer('async prepare() {\n  return await Email.fail({})\n}'),
      'a handler past its CPU limit': consumer('prepare() { for (;;) {} }'),
      'a top level that never ends': `for (;;) {}\n${consumer('prepare() { return 1 }')}`,
      'a top level that runs out of memory': `const hoard = []; for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));\n${consumer('prepare() { return 1 }')}`,
      'a top level that recurses without end': `function down(n) { return down(n + 1) + 1 }\ndown(0);\n${consumer('prepare() { return 1 }')}`,
      'a top level that floods the console': `for (let i = 0; i < 300; i++) console.log("line " + i + " " + "x".repeat(200));\n${consumer('prepare() { return 1 }')}`,
      'a top level that patches prototypes and leaves a promise pending': `Object.prototype.planted = 7; (async () => { await new Promise(() => {}) })();\n${consumer('prepare() { return ({}).planted }')}`,
    }
    for (const [name, code] of Object.entries(scripts)) {
      const run = async (runner: SandboxRunner) => {
        const recording = recordingHost()
        const outcomes = await evaluateInARow(runner, (i) => request(code, { args: [i], recording }), 3)
        return { outcomes, logs: recording.logs, calls: recording.calls.map((c) => [c.namespace, c.method, c.input]) }
      }
      expect({ name, ...(await run(preloading)) }).toEqual({ name, ...(await run(loadingEachTime)) })
    }
  })

  it('counts the CPU time of the top level against the evaluation that takes the preload', async () => {
    const spin = (ms: number) => `{ const end = Date.now() + ${ms}; while (Date.now() < end) {} }`
    const code = `${spin(10)}\n${consumer('prepare() { return 1 }')}`
    const before = counters()
    const times: number[] = []
    for (let i = 0; i < 4; i++) {
      const outcome = await preloading.evaluate(request(code))
      expect(success(outcome)).toBe(1)
      times.push(outcome.stats.guestMs)
      await idle()
    }
    expect(delta(before).taken).toBeGreaterThanOrEqual(1)
    // The top level spins 10 ms by the wall clock (whole milliseconds): at least 8 of them are guest CPU time.
    for (const guestMs of times) expect(guestMs).toBeGreaterThanOrEqual(8)
  })

  it('leaves a top level that calls a tool to the evaluation, and does not preload that script again in a row', async () => {
    const code = `Topics.peek({ topic: "t" });\n${consumer('prepare() { return "ran" }')}`
    const recording = recordingHost()
    const before = counters()
    const outcomes = await evaluateInARow(preloading, () => request(code, { recording }), 4)
    expect(outcomes.map((o) => o.ok && o.value)).toEqual(['ran', 'ran', 'ran', 'ran'])
    // Every evaluation made its own top-level call; the one refused preload made none.
    expect(recording.calls.map((c) => c.method)).toEqual(['peek', 'peek', 'peek', 'peek'])
    expect(delta(before)).toEqual({ taken: 0, unused: 0, refused: 1 })
  })

  it('tries a refused script again after 2, 4, 8 … of its evaluations', async () => {
    const code = `Topics.peek({ topic: "t" });\n${consumer('prepare() { return "ran" }')}`
    const recording = recordingHost()
    const before = counters()
    const outcomes = await evaluateInARow(preloading, () => request(code, { recording }), 12)
    expect(outcomes.every((o) => o.ok && o.value === 'ran')).toBe(true)
    expect(recording.calls).toHaveLength(12)
    // Tried after the 2nd, 5th and 10th evaluations (the 11th to 18th wait), refused each time; later if the pool had
    // no instance to spare when one was due. Without retries it would be refused once; without waits, 11 times.
    const { taken, unused, refused } = delta(before)
    expect({ taken, unused }).toEqual({ taken: 0, unused: 0 })
    expect(refused).toBeGreaterThanOrEqual(2)
    expect(refused).toBeLessThanOrEqual(3)
  })

  it(`leaves a top level that runs longer than ${PRELOAD_CPU_MS} ms of CPU to the evaluation, under its own limit`, async () => {
    const code = `{ const end = Date.now() + ${PRELOAD_CPU_MS + 15}; while (Date.now() < end) {} }\n${consumer('prepare() { return 1 }')}`
    const before = counters()
    const outcomes = await evaluateInARow(preloading, () => request(code), 3)
    expect(outcomes.map((o) => o.ok && o.value)).toEqual([1, 1, 1])
    expect(delta(before)).toEqual({ taken: 0, unused: 0, refused: 1 })
  })

  it('gives back a preload when the next evaluation has other code, tools or limits', async () => {
    const code = consumer('prepare() { return "a" }')
    const other = consumer('prepare() { return "b" }')
    for (const next of [request(other), request(code, { globals: { Email: ['send'] } }), request(code, { limits: { timeoutMs: 150 } })]) {
      await evaluateInARow(preloading, () => request(code), 2)
      const before = counters()
      expect(success(await preloading.evaluate(next))).toBe(next.code === other ? 'b' : 'a')
      expect(delta(before)).toEqual({ taken: 0, unused: 1, refused: 0 })
      await idle()
    }
  })

  it('runs scripts the same way in a worker thread', async () => {
    const threaded = createSandboxRunner({ limits: FAST_LIMITS, threads: 1, pool: { size: 2 }, preload: true })
    onTestFinished(() => threaded.close())
    const code = `console.log("top level");\n${consumer('async prepare(n) { const r = await Email.send({ n }); return [n, r.index] }')}`
    const recording = recordingHost()
    const outcomes = await evaluateInARow(threaded, (i) => request(code, { args: [i], recording }), 4)
    expect(outcomes.map((o) => o.ok && o.value)).toEqual([[0, 0], [1, 0], [2, 0], [3, 0]])
    expect(recording.logs.filter(([, m]) => m === 'top level')).toHaveLength(4)
  })
})

describe('the pool that holds a preload', () => {
  const limits = resolveLimits(FAST_LIMITS)
  const plan = (code: string) => {
    const planned = planEvaluation(request(code), limits)
    if (!planned.ok) throw new Error(planned.error.message)
    return planned.plan
  }

  it(`does not use a preload older than ${PRELOAD_MAX_AGE_MS} ms: its top level would have run too early`, async () => {
    let now = 0
    const pool = new InstancePool(limits.memoryLimitBytes, 2, { now: () => now })
    try {
      const code = `const loadedAt = Date.now();\n${consumer('prepare() { return 1 }')}`
      success(await runPlan(plan(code), undefined, pool))
      const first = counters()
      // The second evaluation in a row has the pool preload the script.
      success(await runPlan(plan(code), undefined, pool))
      await preloadedSince(first)
      now += PRELOAD_MAX_AGE_MS + 1
      const before = counters()
      expect(success(await runPlan(plan(code), undefined, pool))).toBe(1)
      expect(delta(before)).toEqual({ taken: 0, unused: 1, refused: 0 })
      // A new preload follows, and one that is not too old is taken.
      await preloadedSince(before)
      const again = counters()
      expect(success(await runPlan(plan(code), undefined, pool))).toBe(1)
      expect(delta(again).taken).toBe(1)
    } finally {
      await pool.close()
    }
  })

  it('keys a preload by the script, the tools and the limits', () => {
    const base = { code: 'x', globals: [['Email', ['send']]] as const, limits }
    expect(preloadKey(base)).toBe(preloadKey({ ...base }))
    expect(preloadKey(base)).not.toBe(preloadKey({ ...base, code: 'y' }))
    expect(preloadKey(base)).not.toBe(preloadKey({ ...base, globals: [['Email', ['send', 'fail']]] }))
    expect(preloadKey(base)).not.toBe(preloadKey({ ...base, limits: { ...limits, timeoutMs: limits.timeoutMs + 1 } }))
  })
})
