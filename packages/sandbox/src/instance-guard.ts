/**
 * Memory exhaustion detection for one instance. QuickJS's own allocation counter does not bound bytes in these
 * builds (research F1), so the hard cap is the `maximum` of the instance's `WebAssembly.Memory`, and the guard
 * watches it: a heap resize that ends without growing marks the instance memory-exhausted.
 *
 * A guest that catches the out-of-memory error and retries could otherwise spin for seconds, because QuickJS polls
 * its interrupt handler only every ~10k back-edges and long C builtins (`Array.prototype.fill`) do not poll (F8).
 * Once exhausted, the next WebAssembly import the guest reaches (the next heap resize, `Date.now()`, ...) throws
 * {@link GuestKilled} through the WebAssembly frames, which ends the evaluation at once. The instance is then in
 * an undefined state and is never entered again.
 */

import { Wasm, type WasmImports, type WasmMemory } from './wasm.js'

/** Thrown through an exhausted instance's WebAssembly frames to stop its guest; never reaches the guest. */
export class GuestKilled extends Error {
  constructor() {
    super('The sandbox instance ran out of memory and was stopped')
    this.name = 'GuestKilled'
  }
}

/** The memory state of one instance. */
export class InstanceGuard {
  /** A heap resize failed for good: the guest hit the memory cap. Sticky. */
  memoryExhausted = false
  /** A host exception unwound through the instance's WebAssembly frames: never call into it again. */
  killed = false
  /** Depth of host callbacks running inside guest execution; the kill switch stays off inside them. */
  callbackDepth = 0
  /**
   * Calls the guest made to an import that reads the clock or the time zone (`Date.now()`, `new Date()`, local
   * time). A script image is only taken of a top level that made none (see `script-image.ts`).
   */
  clockReads = 0
  /** Outcome of the latest `memory.grow` during the current import call. */
  private growOutcome: 'none' | 'grew' | 'failed' = 'none'

  private lastGrowFailed(): boolean {
    return this.growOutcome === 'failed'
  }

  /**
   * Routes the JavaScript side's `_malloc` through the guard. quickjs-emscripten copies host strings and argument
   * arrays into guest memory without checking for a NULL result, which would write at address 0; a failed
   * allocation instead ends the instance here, before anything is written.
   */
  watchHostMalloc(module: { _malloc?: unknown } | undefined): void {
    const malloc = module?._malloc
    if (module === undefined || typeof malloc !== 'function') throw new Error('Unexpected emscripten module: no _malloc')
    module._malloc = (size: number): number => {
      const pointer = (malloc as (size: number) => number)(size)
      if (pointer === 0 && size > 0) {
        this.memoryExhausted = true
        this.killed = true
        throw new GuestKilled()
      }
      return pointer
    }
  }

  /**
   * Routes `memory.grow` through the guard so failed growth is seen. Returns the same memory object. A memory handed
   * on to a new instance (see `renewInstance`) is watched by that instance's guard from then on.
   */
  watchMemory(memory: WasmMemory): WasmMemory {
    const grow = Wasm.Memory.prototype.grow
    Object.defineProperty(memory, 'grow', {
      configurable: true,
      value: (delta: number): number => {
        try {
          const previous = grow.call(memory, delta)
          this.growOutcome = 'grew'
          return previous
        } catch (error) {
          this.growOutcome = 'failed'
          throw error
        }
      },
    })
    return memory
  }

  /**
   * Wraps one import. Emscripten's heap resize tries several sizes and stops at the first that grows, so the
   * outcome of the last attempt tells whether the resize failed. The kill switch fires only when no host callback
   * is on the stack, so the exception unwinds straight to the host code that entered the guest.
   */
  wrapImport(fn: (...args: unknown[]) => unknown, clock = readsClock(fn)): (...args: unknown[]) => unknown {
    return (...args: unknown[]): unknown => {
      if (clock) this.clockReads++
      if (this.memoryExhausted && this.callbackDepth === 0) {
        this.killed = true
        throw new GuestKilled()
      }
      this.growOutcome = 'none'
      const result = fn(...args)
      if (this.lastGrowFailed()) this.memoryExhausted = true
      this.growOutcome = 'none'
      return result
    }
  }
}

/**
 * Pure; whether an emscripten import reads the clock or the time zone. The build's import names are minified, so the
 * import's own source tells: emscripten implements them with `Date` and `performance.now()`. Erring towards true
 * only makes fewer scripts eligible for a script image.
 */
export function readsClock(fn: (...args: unknown[]) => unknown): boolean {
  return /\bDate\b|performance\.now|getTimezoneOffset/.test(Function.prototype.toString.call(fn))
}

/**
 * {@link readsClock} of each import, by `module.name`: every instance of the one compiled module gets new closures
 * with the same sources, so each is read once per process, not once per instance.
 */
const clockImports = new Map<string, boolean>()

/** Returns a copy of `imports` whose functions go through {@link InstanceGuard.wrapImport}. */
export function guardImports(imports: WasmImports, guard: InstanceGuard): WasmImports {
  const guarded: WasmImports = {}
  for (const [moduleName, entries] of Object.entries(imports)) {
    const wrapped: Record<string, unknown> = {}
    for (const [name, value] of Object.entries(entries)) {
      if (typeof value !== 'function') {
        wrapped[name] = value
        continue
      }
      const fn = value as (...args: unknown[]) => unknown
      const key = `${moduleName}.${name}`
      let clock = clockImports.get(key)
      if (clock === undefined) clockImports.set(key, (clock = readsClock(fn)))
      wrapped[name] = guard.wrapImport(fn, clock)
    }
    guarded[moduleName] = wrapped
  }
  return guarded
}
