import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { afterAll, describe, expect, it } from 'vitest'
import { createSandboxRunner } from './create-sandbox-runner.js'
import { resolveLimits } from './limits.js'
import { createInstance, dropInstance } from './quickjs-instance.js'
import { MAX_GUEST_STACK_BYTES, SHADOW_STACK_BYTES, shrinkShadowStack } from './shadow-stack.js'
import { consumer, request, success } from './test-helpers/harness.js'
import { inspectWasm } from './wasm-layout.js'

const binary = new Uint8Array(readFileSync(createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm')))
const MiB = 1024 * 1024

/** The indexes where two binaries of the same length differ. */
const changed = (a: Uint8Array, b: Uint8Array) => [...a].flatMap((x, i) => (x === b[i] ? [] : [i]))

describe('shrinkShadowStack', () => {
  it('moves the stack top and the heap start down to a 1 MiB stack, changing the binary in four places only', () => {
    const top = inspectWasm(binary)!.stackTop!
    const shrunk = shrinkShadowStack(binary)!
    // The build's stack is 5 MiB; its bottom (the end of the static data) stays where it is.
    expect(shrunk.stackTop).toBe(top - 5 * MiB + SHADOW_STACK_BYTES)
    expect(shrunk.bytes.length).toBe(binary.length)
    expect(inspectWasm(shrunk.bytes)).toEqual({ ...inspectWasm(binary), stackTop: shrunk.stackTop })
    // The first global, the stack record's top and size, and the heap's initial break: each a few bytes.
    const at = changed(binary, shrunk.bytes)
    const places = at.filter((i, k) => k === 0 || i - at[k - 1]! > 4)
    expect(places).toHaveLength(4)
    expect(at.length).toBeLessThanOrEqual(12)
  })

  it('does the same for any smaller stack that keeps the 16-byte alignment', () => {
    const top = inspectWasm(binary)!.stackTop!
    expect(shrinkShadowStack(binary, 2 * MiB)?.stackTop).toBe(top - 3 * MiB)
    expect(shrinkShadowStack(binary, 2 * MiB + 8)).toBeUndefined()
  })

  it('keeps a binary that is not laid out as expected', () => {
    // Not smaller than the build's own stack.
    expect(shrinkShadowStack(binary, 5 * MiB)).toBeUndefined()
    // Not WebAssembly, or without the sections it patches.
    expect(shrinkShadowStack(new Uint8Array([1, 2, 3]))).toBeUndefined()
    expect(shrinkShadowStack(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))).toBeUndefined()
    // A second store of the stack top: which one is the stack record is no longer certain.
    const top = inspectWasm(binary)!.stackTop!
    const store = [0x41, ...[0, 7, 14, 21].map((s, i) => ((top >>> s) & 0x7f) | (i < 3 ? 0x80 : 0)), 0x36, 0x02, 0x00]
    const doubled = new Uint8Array(binary)
    const first = Buffer.from(binary).indexOf(Buffer.from(store))
    expect(first).toBeGreaterThan(0)
    doubled.set(store, first - 100)
    expect(shrinkShadowStack(doubled)).toBeUndefined()
  })
})

describe('instances on the shrunk stack', () => {
  const runner = createSandboxRunner({ threads: 1 })
  afterAll(() => runner.close())

  it('start with a memory of 2 MiB instead of 6', async () => {
    const instance = await createInstance(resolveLimits().memoryLimitBytes)
    expect(instance.memory.buffer.byteLength).toBeLessThanOrEqual(2 * MiB)
    dropInstance(instance)
  })

  it('accept stack limits up to 768 KiB and refuse larger ones by name', () => {
    expect(resolveLimits({ maxStackBytes: MAX_GUEST_STACK_BYTES }).maxStackBytes).toBe(768 * 1024)
    expect(() => resolveLimits({ maxStackBytes: MAX_GUEST_STACK_BYTES + 1 })).toThrow(/maxStackBytes/)
    expect(() => resolveLimits({ maxStackBytes: SHADOW_STACK_BYTES })).toThrow(RangeError)
  })

  it('let a script recurse to the largest limit and leave its heap intact', async () => {
    // Objects on the heap, then recursion until QuickJS stops it: with the largest limit the guest's C stack comes
    // within 256 KiB of the heap, and every object must still read back as it was built.
    const code = consumer(`prepare() {
      const kept = Array.from({ length: 2000 }, (_, i) => ({ i, text: "item " + i }));
      let depth = 0;
      const dive = (n) => { depth = Math.max(depth, n); return dive(n + 1) + 1; };
      try { dive(0) } catch (e) { if (e.message !== "stack overflow") throw e; }
      const sum = kept.reduce((s, o) => s + o.i + o.text.length, 0);
      return { depth, sum };
    }`)
    const expectedSum = Array.from({ length: 2000 }, (_, i) => i + `item ${i}`.length).reduce((s, n) => s + n, 0)
    const deep = success(await runner.evaluate(request(code, { limits: { maxStackBytes: MAX_GUEST_STACK_BYTES } }))) as { depth: number; sum: number }
    const shallow = success(await runner.evaluate(request(code))) as { depth: number; sum: number }
    expect(deep.sum).toBe(expectedSum)
    expect(shallow.sum).toBe(expectedSum)
    // The default limit is 256 KiB: the largest one lets the guest go about three times as deep.
    expect(deep.depth).toBeGreaterThan(2.5 * shallow.depth)
  })
})
