/**
 * One QuickJS WebAssembly instance per evaluation: the module is compiled once per process, every instance gets
 * its own bounded `WebAssembly.Memory`, a runtime, a context and the evaluated prelude. Instances are used by one
 * evaluation and then discarded; they may be prepared ahead of time (see `InstancePool`).
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import releaseSync from '@jitl/quickjs-wasmfile-release-sync'
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
} from 'quickjs-emscripten-core'
import { InstanceGuard, guardImports } from './instance-guard.js'
import { PRELUDE_SOURCE } from './prelude.js'
import { Wasm, type WasmImports, type WasmInstance, type WasmMemory, type WasmModule } from './wasm.js'

const PAGE = 64 * 1024
/** The emscripten build needs 256 pages (16 MiB) up front: static data, its ~5 MiB shadow stack, the first heap. */
const INITIAL_PAGES = 256

/** What an instance asks of the evaluation currently using it. */
export interface InstanceBinding {
  shouldInterrupt(): boolean
  hostCall(args: QuickJSHandle[]): void
  hostConsole(args: QuickJSHandle[]): void
  hostSettle(args: QuickJSHandle[]): void
  /** A host-side exception inside a host callback (never forwarded to the guest). */
  hostFault(error: unknown): void
  /** Host callbacks are host time, not guest time. */
  pauseClock(): void
  resumeClock(): void
}

/** A ready-to-use, never-used instance. */
export interface PreparedInstance {
  readonly memoryLimitBytes: number
  readonly memory: WasmMemory
  readonly runtime: QuickJSRuntime
  readonly context: QuickJSContext
  /** The prelude's `install(namespacesJson, maxConsoleChars)` function. */
  readonly install: QuickJSHandle
  readonly guard: InstanceGuard
  binding: InstanceBinding | undefined
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

let compiled: Promise<WasmModule> | undefined

/** The QuickJS WebAssembly module, compiled once per process. */
export function compiledModule(): Promise<WasmModule> {
  compiled ??= (async () => {
    const path = createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm')
    return Wasm.compile(await readFile(path))
  })()
  return compiled
}

/** Depending on the module system the variant may arrive wrapped in `{ default }` (research finding F1). */
function syncVariant(): QuickJSSyncVariant {
  const imported = releaseSync as unknown as QuickJSSyncVariant | { default: QuickJSSyncVariant }
  return 'importFFI' in imported ? imported : imported.default
}

/** Pure; the pages of a memory holding the build's fixed 16 MiB plus `memoryLimitBytes` of headroom for the guest. */
export function maximumPages(memoryLimitBytes: number): number {
  return INITIAL_PAGES + Math.ceil(memoryLimitBytes / PAGE)
}

/**
 * Creates a fresh instance: bounded memory, guarded imports, runtime, context, host primitives and prelude.
 * Throws only for faults of the sandbox itself.
 */
export async function prepareInstance(memoryLimitBytes: number): Promise<PreparedInstance> {
  const wasmModule = await compiledModule()
  const guard = new InstanceGuard()
  const memory = guard.watchMemory(new Wasm.Memory({ initial: INITIAL_PAGES, maximum: maximumPages(memoryLimitBytes) }))
  let emscripten: { _malloc?: unknown } | undefined
  const emscriptenModule = {
    wasmMemory: memory,
    print: () => {},
    printErr: () => {},
    // Emscripten calls this as a method of its module object (a copy of these options): keep it to hook _malloc.
    instantiateWasm(this: { _malloc?: unknown }, imports: WasmImports, onSuccess: (instance: WasmInstance) => void) {
      emscripten = this
      const instance = new Wasm.Instance(wasmModule, guardImports(imports, guard))
      onSuccess(instance)
      return instance.exports
    },
  }
  const module = await newQuickJSWASMModuleFromVariant(newVariant(syncVariant(), { emscriptenModule, log: () => {} }))
  guard.watchHostMalloc(emscripten)
  instanceStats.created++
  const runtime = module.newRuntime()
  const context = runtime.newContext()
  // One object, captured by the interrupt handler and the primitives; `install` is filled in once the prelude ran.
  const prepared: Mutable<PreparedInstance> = { memoryLimitBytes, memory, runtime, context, install: context.undefined, guard, binding: undefined }
  runtime.setInterruptHandler(() => guard.memoryExhausted || (prepared.binding?.shouldInterrupt() ?? false))
  const primitive = (name: string, pick: (binding: InstanceBinding) => (args: QuickJSHandle[]) => void) =>
    context.newFunction(name, (...args: QuickJSHandle[]) => {
      const binding = prepared.binding
      if (binding === undefined) return undefined
      // No host exception may reach quickjs-emscripten's callback wrapper: it would log and hand QuickJS a NULL value.
      guard.callbackDepth++
      binding.pauseClock()
      try {
        pick(binding).call(binding, args)
      } catch (error) {
        binding.hostFault(error)
      } finally {
        binding.resumeClock()
        guard.callbackDepth--
      }
      return undefined
    })
  const primitives = [
    primitive('hostCall', (b) => b.hostCall),
    primitive('hostConsole', (b) => b.hostConsole),
    primitive('hostSettle', (b) => b.hostSettle),
  ]
  try {
    const factory = context.unwrapResult(context.evalCode(PRELUDE_SOURCE, 'prelude.js', { type: 'global', strict: true }))
    prepared.install = factory.consume((f) => context.unwrapResult(context.callFunction(f, context.undefined, primitives)))
    return prepared
  } catch (error) {
    disposeInstance(prepared)
    throw error
  } finally {
    for (const handle of primitives) handle.dispose()
  }
}

/** Counters of instance lifecycles in this process (for tests and diagnostics). @internal */
export const instanceStats = { created: 0, disposed: 0, discarded: 0, disposeFailures: 0 }

/**
 * Releases an instance. An instance a kill or a host stack overflow unwound through is never entered again: its
 * state is undefined, so it is dropped and its memory left to the garbage collector.
 */
export function disposeInstance(instance: PreparedInstance): void {
  instance.binding = undefined
  if (instance.guard.killed) {
    instanceStats.discarded++
    return
  }
  try {
    if (instance.install.alive) instance.install.dispose()
    instance.context.dispose()
    instance.runtime.dispose()
    instanceStats.disposed++
  } catch {
    // QuickJS's teardown asserts that no object is left, and a runtime interrupted at an unlucky point (inside
    // promise internals) can fail that: emscripten then throws instead of aborting the process. Drop the instance.
    instance.guard.killed = true
    instanceStats.disposeFailures++
  }
}

const awaitingDisposal = new Set<PreparedInstance>()
let flushScheduled = false

/** Disposes every instance handed to {@link disposeSoon} that is still waiting. */
export function flushDisposals(): void {
  flushScheduled = false
  for (const instance of awaitingDisposal) {
    awaitingDisposal.delete(instance)
    disposeInstance(instance)
  }
}

/**
 * Disposes an instance right after the current turn of the event loop: freeing a QuickJS runtime costs about
 * 0.2 ms, which need not delay the evaluation's outcome. Nothing enters the instance in between.
 */
export function disposeSoon(instance: PreparedInstance): void {
  instance.binding = undefined
  awaitingDisposal.add(instance)
  if (flushScheduled) return
  flushScheduled = true
  setImmediate(flushDisposals)
}
