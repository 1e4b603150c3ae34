import { describe, expect, it } from 'vitest'
import { GuestKilled } from './instance-guard.js'
import { resolveLimits } from './limits.js'
import { loaderInUse, newBareModule } from './quickjs-instance.js'

const limits = resolveLimits()

describe('newBareModule', () => {
  it('gives every module its own WebAssembly instance, memory, FFI and guard', async () => {
    const [a, b] = await Promise.all([newBareModule(limits.memoryLimitBytes), newBareModule(limits.memoryLimitBytes)])
    expect(a.module).not.toBe(b.module)
    expect(a.memory).not.toBe(b.memory)
    expect(a.guard).not.toBe(b.guard)
    expect(a.module.getFFI()).not.toBe(b.module.getFFI())
    // Each module's runtime lives in its own memory: a global set in one context is absent from the other.
    const contextA = a.module.newContext()
    const contextB = b.module.newContext()
    contextA.unwrapResult(contextA.evalCode('globalThis.marker = 41 + 1')).dispose()
    expect(contextA.dump(contextA.unwrapResult(contextA.evalCode('globalThis.marker')))).toBe(42)
    expect(contextB.dump(contextB.unwrapResult(contextB.evalCode('typeof globalThis.marker')))).toBe('undefined')
    contextA.dispose()
    contextB.dispose()
  })

  it('ends a module whose host-side allocation finds no memory, through its own guard', async () => {
    const bare = await newBareModule(1024 * 1024)
    const context = bare.module.newContext()
    // quickjs-emscripten copies host strings into guest memory with `_malloc`; 32 MiB exceed this memory's cap.
    expect(() => context.newString('x'.repeat(32 * 1024 * 1024))).toThrow(GuestKilled)
    expect(bare.guard.memoryExhausted).toBe(true)
    expect(bare.guard.killed).toBe(true)
  })

  it("creates modules with the package's browser build of emscripten's factory, which leaves the process alone", async () => {
    const exitCode = process.exitCode
    const argv = [...process.argv]
    const bare = await newBareModule(limits.memoryLimitBytes)
    expect(loaderInUse).toBe('browser build')
    // A working module: a runtime and a context in its own memory, host strings copied in and read back.
    const context = bare.module.newContext()
    expect(context.dump(context.unwrapResult(context.evalCode('"caf\u00e9 " + [1, 2].map((n) => n * 21).join("")')))).toBe('café 2142')
    context.dispose()
    expect(process.exitCode).toBe(exitCode)
    expect(process.argv).toEqual(argv)
  })
})
