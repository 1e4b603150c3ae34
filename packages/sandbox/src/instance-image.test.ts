import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { SCRATCH_INSTANCES_BEFORE_IMAGE, imageForNextInstance, imagePaysOff, instanceImage, restoreInstance, useInstanceImages } from './instance-image.js'
import { consumer, recordingHost, request, success } from './test-helpers/harness.js'
import { resolveLimits } from './limits.js'
import { type PreparedInstance, maximumPages } from './quickjs-instance.js'
import { xorshiftStep } from './reseed-random.js'
import { Wasm } from './wasm.js'
import { nonZeroRegions, zeroMemory } from './zero-memory.js'

const runner = createSandboxRunner({ limits: { timeoutMs: 1000 } })
afterAll(async () => {
  useInstanceImages(true)
  await runner.close()
})

describe('instances restored from the image of a never-used instance', () => {
  // Every test here evaluates in restored instances: the thread takes its image before the test, not after 24 instances.
  beforeEach(async () => {
    useInstanceImages(true)
    await instanceImage()
  })

  it('takes an image that passed its check, small next to the memory it restores', async () => {
    const image = await instanceImage()
    expect(image).toBeDefined()
    const copied = image!.regions.reduce((n, r) => n + r.bytes.length, 0)
    expect(copied).toBeGreaterThan(0)
    expect(copied).toBeLessThan((image!.pages * 65536) / 8)
  })

  it('gives every evaluation its own Math.random sequence', async () => {
    const code = consumer('prepare() { return [Math.random(), Math.random()] }')
    const draws = await Promise.all(Array.from({ length: 6 }, () => runner.evaluate(request(code))))
    const firsts = draws.map((o) => (success(o) as number[])[0])
    expect(new Set(firsts).size).toBe(firsts.length)
  })

  it('shares nothing between evaluations: globals, prototypes and state start fresh every time', async () => {
    const code = consumer(`prepare(n) {
      const seen = [typeof globalThis.leak, typeof Object.prototype.polluted, Array.prototype.length];
      globalThis.leak = n; Object.prototype.polluted = n; Array.prototype.push = null;
      return seen;
    }`)
    for (let n = 0; n < 3; n++) expect(success(await runner.evaluate(request(code, { args: [n] })))).toEqual(['undefined', 'undefined', 0])
  })

  it('behaves as an instance created from scratch: results, logs, tool calls and errors', async () => {
    const code = consumer(`async prepare(n) {
      console.log("n is", n, { n });
      const r = await Email.send({ n });
      if (n > 1) throw new RangeError("too big " + r.index);
      return r;
    }`)
    const run = async () => {
      const recording = recordingHost()
      const outcomes = [await runner.evaluate(request(code, { args: [1], recording })), await runner.evaluate(request(code, { args: [2], recording }))]
      return { outcomes: outcomes.map((o) => (o.ok ? o.value : { ...o.error, stack: o.error.stack })), logs: recording.logs, calls: recording.calls.length }
    }
    const restored = await run()
    useInstanceImages(false)
    const fromScratch = await run()
    useInstanceImages(true)
    expect(restored).toEqual(fromScratch)
    expect(restored.logs).toEqual([['log', 'n is 1 { n: 1 }'], ['log', 'n is 2 { n: 2 }']])
  })
})

describe('when a thread takes its image', () => {
  it('creates its first instances from scratch and takes the image once they have cost about what it saves', async () => {
    useInstanceImages(true)
    for (let i = 0; i < SCRATCH_INSTANCES_BEFORE_IMAGE; i++) expect(await imageForNextInstance()).toBeUndefined()
    const image = await imageForNextInstance()
    expect(image).toBeDefined()
    expect(await imageForNextInstance()).toBe(image)
  })

  it('never takes one while images are off', async () => {
    useInstanceImages(false)
    for (let i = 0; i < SCRATCH_INSTANCES_BEFORE_IMAGE + 2; i++) expect(await imageForNextInstance()).toBeUndefined()
    useInstanceImages(true)
  })

  it('decides by the number of instances created from scratch', () => {
    expect(imagePaysOff(0)).toBe(false)
    expect(imagePaysOff(SCRATCH_INSTANCES_BEFORE_IMAGE - 1)).toBe(false)
    expect(imagePaysOff(SCRATCH_INSTANCES_BEFORE_IMAGE)).toBe(true)
  })
})

describe('the memory the image was checked on', () => {
  /** The memory of `instance` with `Math.random`'s state (reseeded for every never-used instance) blanked. */
  const memoryOf = (instance: PreparedInstance, at: number) => {
    const bytes = new Uint8Array(instance.memory.buffer).slice()
    bytes.fill(0, at, at + 8)
    return bytes
  }

  it('becomes the next restored instance, byte for byte an instance restored on a new memory', async () => {
    useInstanceImages(true)
    const image = (await instanceImage())!
    const limit = resolveLimits().memoryLimitBytes
    const first = await restoreInstance(image, limit)
    const second = await restoreInstance(image, limit)
    expect(first.memory).not.toBe(second.memory)
    const random = image.context + image.randomState
    expect(Buffer.compare(memoryOf(first, random), memoryOf(second, random))).toBe(0)
    // Its memory was used by the check: the evaluation's garbage must be gone.
    const probe = consumer(`prepare() { return [typeof globalThis.leak, Math.random() !== Math.random()] }`)
    expect(success(await runner.evaluate(request(probe)))).toEqual(['undefined', true])
  })

  it('serves only an instance with the same memory limit: a smaller limit keeps its smaller memory maximum', async () => {
    useInstanceImages(true)
    const image = (await instanceImage())!
    const small = 16 * 1024 * 1024
    const instance = await restoreInstance(image, small)
    const pages = instance.memory.buffer.byteLength / 65536
    expect(() => instance.memory.grow(maximumPages(small) - pages + 1)).toThrow(RangeError)
    expect(instance.memory.grow(maximumPages(small) - pages)).toBe(pages)
  })
})

describe('image helpers', () => {
  it('lists the non-zero 4 KiB regions of a memory, merged when adjacent', () => {
    const bytes = new Uint8Array(6 * 4096)
    bytes[10] = 1
    bytes[4096 + 5] = 2
    bytes[4 * 4096 + 4095] = 3
    expect(nonZeroRegions(bytes)).toEqual([{ at: 0, length: 8192 }, { at: 4 * 4096, length: 4096 }])
  })

  it('scans a view from its own offset, and a last chunk shorter than 4 KiB', () => {
    const backing = new Uint8Array(3 * 4096 + 100)
    backing[4096 + 1] = 7
    backing[backing.length - 1] = 9
    const view = backing.subarray(4096)
    expect(nonZeroRegions(view)).toEqual([{ at: 0, length: 4096 }, { at: 2 * 4096, length: 100 }])
  })

  it('zeroes every non-zero byte of a memory, at chunk edges and at its last byte too', () => {
    const memory = new Wasm.Memory({ initial: 5, maximum: 5 })
    const bytes = new Uint8Array(memory.buffer)
    const written = [0, 65_535, 65_536, 2 * 65_536 + 17, bytes.length - 1]
    for (const at of written) bytes[at] = 0xa5
    zeroMemory(memory)
    expect(bytes.every((b) => b === 0)).toBe(true)
    expect(bytes.length).toBe(5 * 65_536)
  })

  it('steps xorshift64* as QuickJS does', () => {
    expect(xorshiftStep(1n)).toBe(33554433n ^ (33554433n >> 27n))
    expect(xorshiftStep(xorshiftStep(12345n))).not.toBe(xorshiftStep(12345n))
  })
})
