import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { Evaluation } from './evaluation.js'
import { planEvaluation } from './evaluation-plan.js'
import { type InstanceImage, instanceImage, restoreInstance, useInstanceImages } from './instance-image.js'
import { InstancePool } from './instance-pool.js'
import { MAX_SPENT_IN_FLIGHT } from './instance-supply.js'
import { resolveLimits } from './limits.js'
import { poolStats } from './pool-stats.js'
import { type PreparedInstance, instanceStats } from './quickjs-instance.js'
import { recycleInstance, renewInstance } from './renew-instance.js'
import { FAST_LIMITS, consumer, failure, recordingHost, request, success } from './test-helpers/harness.js'
import type { EvaluationOutcome, SandboxRunner } from './types.js'

const limits = resolveLimits(FAST_LIMITS)
const runner = createSandboxRunner({ limits: FAST_LIMITS, pool: { size: 1 }, recycle: true })
const renewing = createSandboxRunner({ limits: FAST_LIMITS, pool: { size: 1 } })
afterAll(async () => {
  await runner.close()
  await renewing.close()
})

let image: InstanceImage
beforeEach(async () => {
  useInstanceImages(true)
  image = (await instanceImage())!
})

/** Runs `code`'s consumer `T.prepare` in `instance` and keeps the instance (an evaluation never disposes it). */
async function evaluateIn(instance: PreparedInstance, code: string, args: unknown[] = []): Promise<EvaluationOutcome> {
  const planned = planEvaluation(request(code, { args: args as never, recording: recordingHost(), limits: FAST_LIMITS }), limits)
  if (!planned.ok) throw new Error(planned.error.message)
  return new Evaluation(instance, planned.plan).execute()
}

/** The memory of `instance` with `Math.random`'s state (reseeded for every never-used instance) blanked. */
function memoryOf(instance: PreparedInstance): Uint8Array {
  const bytes = new Uint8Array(instance.memory.buffer).slice()
  bytes.fill(0, image.context + image.randomState, image.context + image.randomState + 8)
  return bytes
}

/** Six evaluations that each leave a global and a prototype change behind, and check that none saw the previous. */
async function expectFreshEvaluations(pooled: SandboxRunner): Promise<void> {
  const code = consumer(`prepare(n) {
    const seen = [typeof globalThis.leak, typeof Object.prototype.polluted];
    globalThis.leak = n; Object.prototype.polluted = n;
    return seen;
  }`)
  for (let n = 0; n < 6; n++) {
    expect(success(await pooled.evaluate(request(code, { args: [n] })))).toEqual(['undefined', 'undefined'])
    // Turns of the event loop: the pool prepares the next instance between evaluations.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  }
}

const LITTER = consumer(`async prepare(n) {
  globalThis.secret = "s3cr3t-" + n + "-".repeat(20000);
  Object.prototype.polluted = n;
  const kept = []; for (let i = 0; i < 2000; i++) kept.push({ i, text: "row " + i });
  globalThis.kept = kept;
  console.log("left things behind");
  return kept.length;
}`)

describe('recycling a used instance in place', () => {
  it('resets it to exactly the bytes of a newly restored instance', async () => {
    const used = await restoreInstance(image, limits.memoryLimitBytes)
    expect(success(await evaluateIn(used, LITTER, [1]))).toBe(2000)
    const recycled = recycleInstance(used, image)
    expect(recycled).toBeDefined()
    const fresh = await restoreInstance(image, limits.memoryLimitBytes)
    const [a, b] = [memoryOf(recycled!), memoryOf(fresh)]
    expect(a.byteLength).toBe(b.byteLength)
    expect(Buffer.compare(a, b)).toBe(0)
  })

  it('runs a handler afterwards as a never-used instance would, with nothing of the previous evaluation', async () => {
    const used = await restoreInstance(image, limits.memoryLimitBytes)
    success(await evaluateIn(used, LITTER, [1]))
    const recycled = recycleInstance(used, image)!
    const probe = consumer(`prepare() {
      return [typeof globalThis.secret, typeof globalThis.kept, Object.prototype.polluted === undefined, Math.random() !== Math.random()];
    }`)
    expect(success(await evaluateIn(recycled, probe))).toEqual(['undefined', 'undefined', true, true])
    // And again: an instance can be recycled any number of times.
    const again = recycleInstance(recycled, image)!
    expect(success(await evaluateIn(again, consumer('prepare(n) { return n * 2 }'), [21]))).toBe(42)
  })

  it('refuses an instance a host exception unwound through, one that ran out of memory, or one whose memory grew', async () => {
    const killed = await restoreInstance(image, limits.memoryLimitBytes)
    killed.guard.killed = true
    expect(recycleInstance(killed, image)).toBeUndefined()

    const exhausted = await restoreInstance(image, limits.memoryLimitBytes)
    const bomb = consumer('prepare() { const a = []; for (;;) a.push("x".repeat(1 << 16) + a.length) }')
    expect(failure(await evaluateIn(exhausted, bomb)).code).toBe('sandbox_memory')
    expect(recycleInstance(exhausted, image)).toBeUndefined()

    const grown = await restoreInstance(image, limits.memoryLimitBytes)
    grown.memory.grow(1)
    expect(recycleInstance(grown, image)).toBeUndefined()
  })

  it('lets a pooled runner reuse instances across evaluations, each starting fresh', async () => {
    const before = poolStats.recycled
    await expectFreshEvaluations(runner)
    expect(poolStats.recycled).toBeGreaterThan(before)
  })
})

describe('renewing a spent instance: a new WebAssembly instance on its zeroed memory', () => {
  it('gives exactly the bytes of a newly restored instance, in a new instance on the same memory object', async () => {
    const spent = await restoreInstance(image, limits.memoryLimitBytes)
    expect(success(await evaluateIn(spent, LITTER, [1]))).toBe(2000)
    const renewed = await renewInstance(spent, image)
    expect(renewed).toBeDefined()
    expect(renewed!.memory).toBe(spent.memory)
    expect(renewed!.module).not.toBe(spent.module)
    expect(renewed!.guard).not.toBe(spent.guard)
    const fresh = await restoreInstance(image, limits.memoryLimitBytes)
    expect(Buffer.compare(memoryOf(renewed!), memoryOf(fresh))).toBe(0)
    const probe = consumer('prepare() { return [typeof globalThis.secret, Object.prototype.polluted === undefined] }')
    expect(success(await evaluateIn(renewed!, probe))).toEqual(['undefined', true])
  })

  it('renews even after the spent instance was stopped, but never a memory that grew', async () => {
    const stopped = await restoreInstance(image, limits.memoryLimitBytes)
    expect(failure(await evaluateIn(stopped, consumer('prepare() { for (;;) {} }'))).code).toBe('sandbox_timeout')
    const renewed = (await renewInstance(stopped, image))!
    expect(success(await evaluateIn(renewed, consumer('prepare(n) { return n + 1 }'), [41]))).toBe(42)

    const grown = await restoreInstance(image, limits.memoryLimitBytes)
    grown.memory.grow(1)
    expect(await renewInstance(grown, image)).toBeUndefined()
  })

  it('renews a spent instance for an evaluation that finds the pool empty while others run, instead of creating one', async () => {
    const overlapping = createSandboxRunner({ limits: FAST_LIMITS, pool: { size: 2 }, preload: false })
    try {
      // Two ready instances, prepared while nothing runs.
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const held = recordingHost({ send: async () => (await gate, 'sent') })
      // B holds its instance (and keeps the pool from refilling) until its tool call returns.
      const b = overlapping.evaluate(request(consumer('async prepare() { return await Email.send({}) }'), { recording: held }))
      // A spends the other ready instance and hands it back while B still runs.
      expect(success(await overlapping.evaluate(request(LITTER, { args: [7] })))).toBe(2000)
      const before = poolStats.renewed
      const probe = consumer('prepare() { return [typeof globalThis.secret, Object.prototype.polluted === undefined] }')
      expect(success(await overlapping.evaluate(request(probe)))).toEqual(['undefined', true])
      expect(poolStats.renewed).toBe(before + 1)
      release()
      expect(success(await b)).toBe('sent')
    } finally {
      await overlapping.close()
    }
  })

  it('keeps a spent memory for every evaluation that was in flight, so a second wave of overlapping evaluations creates none', async () => {
    const overlapping = createSandboxRunner({ limits: FAST_LIMITS, pool: { size: 1 }, preload: false })
    const wave = async (n: number) => {
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const held = recordingHost({ send: async () => (await gate, 'sent') })
      const code = consumer(`async prepare(n) {
        const seen = typeof globalThis.secret;
        globalThis.secret = "s3cr3t-" + n;
        return [seen, await Email.send({})];
      }`)
      const runs = Array.from({ length: n }, (_, i) => overlapping.evaluate(request(code, { args: [i], recording: held })))
      // Every evaluation has reached its tool call (each holds an instance) before any is released.
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
      release()
      return (await Promise.all(runs)).map(success)
    }
    try {
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
      expect(await wave(4)).toEqual(Array.from({ length: 4 }, () => ['undefined', 'sent']))
      const created = instanceStats.created
      const renewed = poolStats.renewed
      expect(await wave(4)).toEqual(Array.from({ length: 4 }, () => ['undefined', 'sent']))
      // Before: a pool of 1 kept one spent memory and dropped the other three, so three were created again.
      expect(instanceStats.created).toBe(created)
      expect(poolStats.renewed - renewed).toBeGreaterThanOrEqual(3)
    } finally {
      await overlapping.close()
    }
  })

  it('keeps at most its size plus MAX_SPENT_IN_FLIGHT spent instances, however many evaluations were in flight', async () => {
    const pool = new InstancePool(limits.memoryLimitBytes, 1, { inFlight: () => 40, preload: false })
    try {
      const spent = await Promise.all(Array.from({ length: MAX_SPENT_IN_FLIGHT + 4 }, () => restoreInstance(image, limits.memoryLimitBytes)))
      const dropped = instanceStats.dropped
      // Handed back in one turn: the pool's refill has not run, so nothing is ready and all of them wait as spent.
      for (const instance of spent) pool.giveBack(instance)
      expect(instanceStats.dropped - dropped).toBe(spent.length - (1 + MAX_SPENT_IN_FLIGHT))
    } finally {
      await pool.close()
    }
  })

  it('is what a pooled runner does by default, each evaluation starting fresh', async () => {
    const before = { ...poolStats }
    await expectFreshEvaluations(renewing)
    expect(poolStats.renewed).toBeGreaterThan(before.renewed)
    expect(poolStats.recycled).toBe(before.recycled)
  })
})
