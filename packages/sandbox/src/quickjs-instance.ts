/**
 * One QuickJS WebAssembly instance per evaluation: the module is compiled once per process, every instance gets
 * its own bounded `WebAssembly.Memory`, a runtime, a context and the evaluated prelude. Instances are used by one
 * evaluation and then discarded; they may be prepared ahead of time (see `InstancePool`).
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import releaseSync from '@jitl/quickjs-wasmfile-release-sync'
import {
  QuickJSWASMModule,
  type QuickJSContext,
  type QuickJSEmscriptenModule,
  type QuickJSFFI,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
} from 'quickjs-emscripten-core'
import { type InstanceImage, imageForNextInstance, restoreInstance } from './instance-image.js'
import { InstanceGuard, guardImports } from './instance-guard.js'
import { PRELUDE_LAZY_SOURCE, PRELUDE_SOURCE } from './prelude.js'
import { shrinkShadowStack } from './shadow-stack.js'
import { lowerInitialMemory } from './wasm-layout.js'
import { WASM_PAGE, Wasm, type WasmImports, type WasmInstance, type WasmMemory, type WasmModule } from './wasm.js'

/**
 * The build declares 256 pages (16 MiB), of which its static data and 5 MiB shadow stack use about 5 MiB (1 MiB once
 * the stack is shrunk, see `shadow-stack.ts`); the guest's budget is counted on top of these 16 MiB (see
 * {@link maximumPages}) whatever the initial size.
 */
const BUILD_PAGES = 256

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
  /** The WebAssembly instance's QuickJS module (emscripten initialized); a recycled instance keeps it. */
  readonly module: QuickJSWASMModule
  binding: InstanceBinding | undefined
  /**
   * The image this instance was restored from, while nothing ran in it yet: a script image made against that image
   * can be written into it (see `script-image.ts`). Cleared when anything runs in the instance.
   */
  image?: InstanceImage | undefined
}

/** @internal */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] }

let compiled: Promise<WasmModule> | undefined
/** Initial pages of every instance's memory: the build's declared minimum, lowered by `lowerInitialMemory`. */
let initialPages = BUILD_PAGES

/**
 * Uses a module compiled elsewhere (a worker thread receives the calling thread's module, so the process compiles
 * the WebAssembly once). No effect once a module is set.
 * @internal
 */
export function useCompiledModule(shared: CompiledQuickJS): void {
  if (compiled !== undefined) return
  initialPages = shared.initialPages
  compiled = Promise.resolve(shared.module)
}

/** The compiled module and the initial memory size it declares. @internal */
export interface CompiledQuickJS {
  module: WasmModule
  initialPages: number
}

/** The compiled module with its initial pages (to hand to a worker thread). @internal */
export async function compiledQuickJS(): Promise<CompiledQuickJS> {
  return { module: await compiledModule(), initialPages }
}

/** The path of a file of the QuickJS variant's `dist` folder, where its WebAssembly binary is. */
function variantFile(name: string): string {
  return join(dirname(createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm')), name)
}

/** The QuickJS WebAssembly module, compiled once per process. */
export function compiledModule(): Promise<WasmModule> {
  compiled ??= (async () => {
    const original = new Uint8Array(await readFile(variantFile('emscripten-module.wasm')))
    const layout = lowerInitialMemory(shrinkShadowStack(original)?.bytes ?? original)
    initialPages = layout.initialPages
    return Wasm.compile(layout.bytes)
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
  return BUILD_PAGES + Math.ceil(memoryLimitBytes / WASM_PAGE)
}

/** A new WebAssembly instance of the module (emscripten initialized), on its own bounded, guarded memory. @internal */
export interface BareModule {
  module: QuickJSWASMModule
  memory: WasmMemory
  guard: InstanceGuard
}

/** The variant's emscripten module factory and FFI class, imported once per thread. */
interface ModuleParts {
  load: (moduleArg: object) => Promise<QuickJSEmscriptenModule>
  FFI: new (module: QuickJSEmscriptenModule) => QuickJSFFI
}

let parts: Promise<ModuleParts> | undefined

/** Pure; the factory inside however many `{ default }` wrappers the module system added. */
function unwrapLoader(imported: Awaited<ReturnType<QuickJSSyncVariant['importModuleLoader']>>): ModuleParts['load'] {
  let value: unknown = imported
  while (typeof value !== 'function' && typeof value === 'object' && value !== null && 'default' in value) value = value.default
  if (typeof value !== 'function') throw new Error('Unexpected QuickJS variant: no emscripten module factory')
  return value as ModuleParts['load']
}

/** Which emscripten module factory this thread uses (see {@link importLoader}). @internal */
export let loaderInUse: 'browser build' | 'package loader' | undefined

/**
 * The emscripten module factory. The package ships the same emscripten output twice: its Node.js build runs a Node
 * set-up every time it creates a module (`import('node:module')`, `createRequire`, `require` of fs, path and url,
 * reading `process.argv`; about 40 µs of the 70–80 µs the factory takes per instance on the 2-core VM), and on a
 * failing callback it sets `process.exitCode`. Its browser build has neither and runs unchanged on Node.js, since an
 * instance here is handed its binary in `instantiateWasm` and loads nothing. The browser build is imported by its
 * path next to the binary; if it is missing or not a factory, the package's own loader is used.
 */
async function importLoader(variant: QuickJSSyncVariant): Promise<ModuleParts['load']> {
  try {
    const load = unwrapLoader(await import(pathToFileURL(variantFile('emscripten-module.browser.mjs')).href))
    loaderInUse = 'browser build'
    return load
  } catch {
    const load = unwrapLoader(await variant.importModuleLoader())
    loaderInUse = 'package loader'
    return load
  }
}

/**
 * Imports the variant's parts once per thread. quickjs-emscripten's `newQuickJSWASMModuleFromVariant` imports them
 * (three dynamic imports, one of them a package specifier to resolve) for every module it builds: about 0.75 ms of the
 * 1.3 ms it takes per instance on the 2-core VM.
 */
function moduleParts(): Promise<ModuleParts> {
  parts ??= (async () => {
    const variant = syncVariant()
    const [load, FFI] = await Promise.all([importLoader(variant), variant.importFFI()])
    return { load, FFI }
  })()
  return parts
}

/**
 * Instantiates the module on a new memory of `pages` pages, or on `zeroed`: a memory of a spent instance, every byte
 * zero, with the same maximum (a new instance cannot tell it from a new memory). Builds what
 * `newQuickJSWASMModuleFromVariant(newVariant(variant, { emscriptenModule }))` builds, from parts imported once:
 * the emscripten module (a new WebAssembly instance), its FFI and the QuickJS module around them. @internal
 */
export async function newBareModule(memoryLimitBytes: number, pages?: number, zeroed?: WasmMemory): Promise<BareModule> {
  const [wasmModule, { load, FFI }] = await Promise.all([compiledModule(), moduleParts()])
  const guard = new InstanceGuard()
  // `initialPages` is known once the module is compiled.
  const memory = guard.watchMemory(zeroed ?? new Wasm.Memory({ initial: pages ?? initialPages, maximum: maximumPages(memoryLimitBytes) }))
  // Emscripten initializes this object as its module: it sets `_malloc` and the exports on it.
  const emscriptenModule: { _malloc?: unknown } & Record<string, unknown> = {
    wasmMemory: memory,
    print: () => {},
    printErr: () => {},
    instantiateWasm(imports: WasmImports, onSuccess: (instance: WasmInstance) => void) {
      const instance = new Wasm.Instance(wasmModule, guardImports(imports, guard))
      onSuccess(instance)
      return instance.exports
    },
  }
  const raw = await load(emscriptenModule)
  raw.type = 'sync'
  guard.watchHostMalloc(emscriptenModule)
  return { module: new QuickJSWASMModule(raw, new FFI(raw)), memory, guard }
}

/** A host function as the guest's prelude receives it. */
type HostFunction = Parameters<QuickJSContext['newFunction']>[1]

/**
 * The prelude's host primitives for `prepared`, in the order it receives them (`hostCall`, `hostConsole`,
 * `hostSettle`, `hostLoad`); a restored instance registers the same functions in the same order. @internal
 */
export function hostFunctions(prepared: PreparedInstance): Array<[string, HostFunction]> {
  const { guard } = prepared
  // No host exception may reach quickjs-emscripten's callback wrapper: it would log and hand QuickJS a NULL value.
  const guarded = <T>(binding: InstanceBinding, fn: () => T): T | undefined => {
    guard.callbackDepth++
    binding.pauseClock()
    try {
      return fn()
    } catch (error) {
      binding.hostFault(error)
      return undefined
    } finally {
      binding.resumeClock()
      guard.callbackDepth--
    }
  }
  const primitive = (pick: (binding: InstanceBinding) => (args: QuickJSHandle[]) => void): HostFunction => (...args: QuickJSHandle[]) => {
    const binding = prepared.binding
    if (binding !== undefined) guarded(binding, () => pick(binding).call(binding, args))
    return undefined
  }
  // Compiles the rest of the prelude on the guest's first need (inside a guest call, with the guest clock paused).
  const load: HostFunction = () => {
    const binding = prepared.binding
    if (binding === undefined) return undefined
    return guarded(binding, () => prepared.context.evalCode(PRELUDE_LAZY_SOURCE, 'prelude.js', { type: 'global', strict: true }))
  }
  return [
    ['hostCall', primitive((b) => b.hostCall)],
    ['hostConsole', primitive((b) => b.hostConsole)],
    ['hostSettle', primitive((b) => b.hostSettle)],
    ['hostLoad', load],
  ]
}

/** The interrupt handler of an instance's runtime. @internal */
export function interruptHandler(prepared: PreparedInstance): () => boolean {
  return () => prepared.guard.memoryExhausted || (prepared.binding?.shouldInterrupt() ?? false)
}

/**
 * Creates an instance from scratch: bounded memory, guarded imports, runtime, context, host primitives and prelude.
 * Throws only for faults of the sandbox itself. @internal
 */
export async function createInstance(memoryLimitBytes: number): Promise<PreparedInstance> {
  const { module, memory, guard } = await newBareModule(memoryLimitBytes)
  const runtime = module.newRuntime()
  const context = runtime.newContext()
  // One object, captured by the interrupt handler and the primitives; `install` is filled in once the prelude ran.
  const prepared: Mutable<PreparedInstance> = { memoryLimitBytes, memory, runtime, context, install: context.undefined, guard, module, binding: undefined }
  runtime.setInterruptHandler(interruptHandler(prepared))
  const primitives = hostFunctions(prepared).map(([name, fn]) => context.newFunction(name, fn))
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

/**
 * A fresh, never-used instance: restored from this thread's image of a never-used instance once the thread has one
 * (see `instance-image.ts`; about half the cost), otherwise created from scratch. Throws only for faults of the sandbox.
 * `pause` is awaited between the steps of a restore (a pool yields to waiting evaluations there).
 */
export async function prepareInstance(memoryLimitBytes: number, pause?: () => Promise<void>): Promise<PreparedInstance> {
  const image = await imageForNextInstance()
  const prepared = image === undefined ? await createInstance(memoryLimitBytes) : await restoreInstance(image, memoryLimitBytes, pause)
  instanceStats.created++
  return prepared
}

/** Counters of instance lifecycles in this process (for tests and diagnostics). @internal */
export const instanceStats = { created: 0, disposed: 0, discarded: 0, disposeFailures: 0, dropped: 0 }

/**
 * Lets go of a used instance without tearing its QuickJS runtime down. Everything the runtime owns lives in the
 * instance's own `WebAssembly.Memory`, which the garbage collector reclaims with the instance; the teardown (about
 * 0.5 ms: it frees every object and checks for leaks) would only free memory that is discarded anyway. Sandbox
 * worker threads drop their instances, because their CPU time is what limits throughput.
 */
export function dropInstance(instance: PreparedInstance): void {
  instance.binding = undefined
  instanceStats.dropped++
}

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
