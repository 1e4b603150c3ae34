import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { Evaluation, type Preloaded } from './evaluation.js'
import { planEvaluation, type EvaluationPlan } from './evaluation-plan.js'
import { instanceImage, restoreInstance, useInstanceImages } from './instance-image.js'
import { EVALUATIONS_BEFORE_SCRIPT_IMAGE } from './instance-pool.js'
import { resolveLimits } from './limits.js'
import { poolStats } from './pool-stats.js'
import type { PreparedInstance } from './quickjs-instance.js'
import { randomStateOf } from './reseed-random.js'
import { differingRegions, loadScriptImage, probeScriptImage, type ScriptImage } from './script-image.js'
import { FAST_LIMITS, GLOBALS, RUNNER_VARIANTS, consumer, recordingHost, request } from './test-helpers/harness.js'
import type { EvaluationOutcome, EvaluationRequest, SandboxRunner } from './types.js'

const limits = resolveLimits()

beforeAll(async () => {
  useInstanceImages(true)
  await instanceImage()
})

/** A never-used instance restored from this thread's image. */
async function restored(): Promise<PreparedInstance> {
  const image = await instanceImage()
  if (image === undefined) throw new Error('this thread has no image')
  return restoreInstance(image, limits.memoryLimitBytes)
}

function planOf(code: string): EvaluationPlan {
  const planned = planEvaluation(request(code), limits)
  if (!planned.ok) throw new Error(planned.error.message)
  return planned.plan
}

/**
 * Probes `code` in two restored instances. The loads may take the plan's whole time limit rather than the pool's
 * preload cap, so that a slow moment of a busy machine (CI runs the packages' suites side by side) cannot turn the
 * refusal under test into `not-preloadable`. The cap itself is tested in `preload.test.ts`.
 */
async function probe(code: string) {
  const plan = planOf(code)
  return probeScriptImage(await restored(), await restored(), (instance) => Evaluation.preload(instance, plan, plan.limits.timeoutMs))
}

describe('probeScriptImage', () => {
  it('takes the image of a top level that only defines things, with its console lines', async () => {
    const { image, loads } = await probe(`const LIMIT = 3;\nfunction twice(x) { return 2 * x }\nconsole.log("loaded", LIMIT);\n${consumer('prepare(n) { return twice(n) }')}`)
    expect(typeof image).toBe('object')
    const taken = image as ScriptImage
    expect(taken.logs).toEqual([['log', 'loaded 3']])
    expect(taken.delta.length).toBeGreaterThan(0)
    expect(loads.every((load) => load?.failure === undefined)).toBe(true)
  })

  it.each([
    ['reads the clock', 'const startedAt = Date.now();', 'clock'],
    ['builds a date of now', 'const today = new Date().toISOString().slice(0, 10);', 'clock'],
    ['reads the time zone', 'const offset = new Date(2020, 0, 1).getTimezoneOffset();', 'clock'],
    ['keeps a random number', 'const id = Math.random();', 'random'],
    ['draws a random number it throws away', 'Math.random();', 'random'],
    ['throws', 'throw new Error("broken top level");', 'not-loaded'],
    ['calls a tool', 'Email.send({ at: "top" });', 'not-preloadable'],
    ['has a syntax error', 'const = 1;', 'not-loaded'],
    ['grows the memory', 'const buffer = new ArrayBuffer(2 * 1024 * 1024);', 'grew'],
  ])('takes no image of a top level that %s', async (_, top, refusal) => {
    const { image } = await probe(`${top}\n${consumer('prepare() { return 1 }')}`)
    expect(image).toBe(refusal)
  })

  it('takes no image when an instance was not restored from the image or already ran something', async () => {
    const plan = planOf(consumer('prepare() { return 1 }'))
    const used = await restored()
    Evaluation.preload(used, plan)
    const { image } = probeScriptImage(used, await restored(), (instance) => Evaluation.preload(instance, plan))
    expect(image).toBe('not-restored')
  })
})

describe('loadScriptImage', () => {
  it('writes exactly the bytes a load writes: the memory equals an instance that ran the top level, but for its random seed', async () => {
    const code = `const table = Array.from({ length: 50 }, (_, i) => ({ i, label: "row " + i }));\nconsole.log("rows", table.length);\n${consumer('prepare(n) { return table[n] }')}`
    const plan = planOf(code)
    const { image } = await probe(code)
    // A refusal names itself here instead of surfacing as a missing preload below.
    expect(typeof image === 'object' ? 'taken' : image).toBe('taken')
    const fromImage = loadScriptImage(await restored(), image as ScriptImage) as Preloaded
    const loaded = Evaluation.preload(await restored(), plan) as Preloaded
    expect(fromImage).toBeDefined()
    const base = (image as ScriptImage).base
    const [a, b] = [fromImage.instance, loaded.instance]
    expect(randomStateOf(a.memory, base)).not.toBe(randomStateOf(b.memory, base))
    new DataView(b.memory.buffer).setBigUint64(base.context + base.randomState, randomStateOf(a.memory, base), true)
    expect(differingRegions(new Uint8Array(a.memory.buffer), new Uint8Array(b.memory.buffer))).toEqual([])
    expect(fromImage.logs).toEqual(loaded.logs)
  })

  it('writes nothing into an instance that already ran something or was restored from another image', async () => {
    const code = consumer('prepare() { return 1 }')
    const { image, loads } = await probe(code)
    const used = loads[0]!.instance
    const before = Buffer.from(new Uint8Array(used.memory.buffer))
    expect(loadScriptImage(used, image as ScriptImage)).toBeUndefined()
    expect(Buffer.compare(before, Buffer.from(new Uint8Array(used.memory.buffer)))).toBe(0)
    const other = await restored()
    other.image = { ...(image as ScriptImage).base }
    expect(loadScriptImage(other, image as ScriptImage)).toBeUndefined()
  })
})

describe('pure helpers', () => {
  it('finds the 4 KiB chunks in which two memories differ, merged when adjacent', () => {
    const a = new Uint8Array(6 * 4096)
    const b = new Uint8Array(6 * 4096)
    b[5] = 1
    b[4096 + 17] = 2
    b[3 * 4096 + 4095] = 3
    expect(differingRegions(a, b)).toEqual([
      { at: 0, length: 8192 },
      { at: 3 * 4096, length: 4096 },
    ])
    expect(differingRegions(a, a.slice())).toEqual([])
  })
})

/** Turns of the event loop: a pool preloads, probes and refills between evaluations. */
async function idle(turns = 30): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** An outcome without its timings. */
function seen(outcome: EvaluationOutcome): unknown {
  return outcome.ok ? { ok: true, value: outcome.value, hostCalls: outcome.stats.hostCalls } : { ok: false, error: outcome.error }
}

async function evaluateInARow(runner: SandboxRunner, make: (i: number) => EvaluationRequest, times: number): Promise<unknown[]> {
  const outcomes: unknown[] = []
  for (let i = 0; i < times; i++) {
    outcomes.push(seen(await runner.evaluate(make(i))))
    await idle()
  }
  return outcomes
}

describe('a runner loading scripts from their images', () => {
  let imaging: SandboxRunner
  let loading: SandboxRunner
  beforeEach(() => {
    imaging = createSandboxRunner({ limits: FAST_LIMITS, pool: { size: 2 } })
    loading = createSandboxRunner({ limits: FAST_LIMITS, pool: { size: 2 }, preload: false })
  })
  afterEach(async () => {
    await Promise.all([imaging.close(), loading.close()])
  })

  const runs = EVALUATIONS_BEFORE_SCRIPT_IMAGE + 5

  it('reports the same outcomes, logs, errors and tool calls as loading the script in each evaluation', async () => {
    const code = `const greeting = "hello";\nconsole.log("top level", greeting);\n${consumer(`async prepare(n) {
      const r = await Email.send({ n, greeting });
      console.log("sent", n, r.index);
      if (n % 3 === 2) throw new TypeError("every third " + n);
      return { n, r };
    }`)}`
    const recordings = [recordingHost(), recordingHost()]
    const before = { ...poolStats }
    const [fromImages, loaded] = await Promise.all(
      [imaging, loading].map((runner, r) => evaluateInARow(runner, (i) => request(code, { args: [i], recording: recordings[r] }), runs)),
    )
    expect(poolStats.scriptImages - before.scriptImages).toBe(1)
    expect(poolStats.scriptImageLoads - before.scriptImageLoads).toBeGreaterThanOrEqual(3)
    expect(fromImages).toEqual(loaded)
    expect(recordings[0]!.logs).toEqual(recordings[1]!.logs)
    expect(recordings[0]!.calls).toEqual(recordings[1]!.calls)
    expect(recordings[0]!.logs.filter(([, m]) => m === 'top level hello')).toHaveLength(runs)
  })

  it('gives every evaluation loaded from an image a fresh state: what a handler changed is gone', async () => {
    const code = `const state = { count: 0 };\n${consumer(`prepare() {
      const seen = [state.count, typeof globalThis.leak, Object.prototype.polluted, Array.prototype.includes.name];
      state.count++; globalThis.leak = 1; Object.prototype.polluted = 1; Array.prototype.includes = null;
      return seen;
    }`)}`
    const before = { ...poolStats }
    const outcomes = await evaluateInARow(imaging, () => request(code), runs)
    expect(poolStats.scriptImageLoads - before.scriptImageLoads).toBeGreaterThanOrEqual(3)
    // JSON carries `undefined` in an array as null.
    for (const outcome of outcomes) expect(outcome).toMatchObject({ ok: true, value: [0, 'undefined', null, 'includes'] })
  })

  it('gives each evaluation loaded from an image its own Math.random sequence', async () => {
    const code = consumer('prepare() { return [Math.random(), Math.random()] }')
    const before = { ...poolStats }
    const outcomes = (await evaluateInARow(imaging, () => request(code), runs)) as Array<{ value: number[] }>
    expect(poolStats.scriptImageLoads - before.scriptImageLoads).toBeGreaterThanOrEqual(3)
    const firsts = outcomes.map((o) => o.value[0])
    expect(new Set(firsts).size).toBe(runs)
  })

  it('loads a top level that reads the clock in every evaluation, which sees the time of its evaluation', async () => {
    const code = `const loadedAt = Date.now();\n${consumer('prepare() { return Date.now() - loadedAt }')}`
    const before = { ...poolStats }
    const outcomes = (await evaluateInARow(imaging, () => request(code), runs)) as Array<{ value: number }>
    expect(poolStats.scriptImagesRefused - before.scriptImagesRefused).toBe(1)
    expect(poolStats.scriptImageLoads - before.scriptImageLoads).toBe(0)
    for (const outcome of outcomes) expect(outcome.value).toBeLessThan(1000)
  })

  it('probes a top level that calls a tool again after twice as many evaluations each time, and never images it', async () => {
    const code = `Email.send({ at: "top" });\n${consumer('prepare() { return 1 }')}`
    const before = { ...poolStats }
    const outcomes = await evaluateInARow(imaging, () => request(code), 3 + 6 + 2)
    expect(outcomes.every((o) => (o as { ok: boolean }).ok)).toBe(true)
    // Probed after the 3rd and the 9th evaluation: two refusals in 11 evaluations, no image.
    expect(poolStats.scriptImagesRefused - before.scriptImagesRefused).toBe(2)
    expect(poolStats.scriptImages - before.scriptImages).toBe(0)
  })

  it('keeps an image per script, tools and limits: another script or other tools get their own', async () => {
    const a = consumer('prepare() { return "a" }')
    const b = consumer('prepare() { return "b" }')
    const before = { ...poolStats }
    const outcomes = await evaluateInARow(
      imaging,
      (i) => (i % 3 === 2 ? request(a, { globals: { Other: ['x'] } }) : request(i % 3 === 0 ? a : b)),
      3 * runs,
    )
    expect(outcomes.map((o) => (o as { value: string }).value)).toEqual(Array.from({ length: 3 * runs }, (_, i) => (i % 3 === 1 ? 'b' : 'a')))
    expect(poolStats.scriptImages - before.scriptImages).toBe(3)
  })
})

describe.each(RUNNER_VARIANTS)('script images on the $name runner', ({ options }) => {
  it('gives the same outcomes with and without script images', async () => {
    const code = `const base = 40;\nconsole.log("top");\n${consumer('async prepare(n) { const r = await Topics.peek({ n }); return base + n + r.index }')}`
    const runners = [createSandboxRunner({ ...options, limits: FAST_LIMITS }), createSandboxRunner({ ...options, limits: FAST_LIMITS, preload: false })]
    try {
      const [a = [], b] = await Promise.all(runners.map((runner) => evaluateInARow(runner, (i) => request(code, { args: [i], globals: GLOBALS }), 8)))
      expect(a).toEqual(b)
      expect(a.map((o) => (o as { value: number }).value)).toEqual([40, 41, 42, 43, 44, 45, 46, 47])
    } finally {
      await Promise.all(runners.map((runner) => runner.close()))
    }
  })
})
