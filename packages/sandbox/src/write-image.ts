/**
 * Writing an image (see `instance-image.ts`) into a fresh module's memory. The image's bytes replace the work of
 * creating the runtime and context; what is not in the memory is rebuilt: the host-side wrappers of the runtime and
 * context (pointing at the same addresses), the host functions (registered under the same host reference ids), and
 * `Math.random`'s state (see `reseed-random.ts`). Also the reads of quickjs-emscripten-core's private fields that a
 * restore needs, and what a restored instance's wrappers point at.
 */
import { Lifetime, QuickJSRuntime, type QuickJSContext, type QuickJSHandle } from 'quickjs-emscripten-core'
import type { InstanceImage } from './instance-image.js'
import { type BareModule, type Mutable, type PreparedInstance, hostFunctions, interruptHandler } from './quickjs-instance.js'
import { reseedRandom } from './reseed-random.js'
import { WASM_PAGE } from './wasm.js'


/** The parts of quickjs-emscripten-core 0.32 (pinned) that a restore needs beyond its public API. */
interface ModuleInternals {
  ffi: { QTS_FreeRuntime(rt: number): void }
  callbacks: { deleteRuntime(rt: number): void }
  module: unknown
}
interface HostRefs {
  put(value: unknown): number
  groups: Map<number, Map<number, unknown>>
}
/** The private fields of quickjs-emscripten-core's wrappers that taking and writing an image read. @internal */
export const internals = {
  runtimePointer: (runtime: QuickJSRuntime) => (runtime as unknown as { rt: { value: number } }).rt.value,
  contextPointer: (context: QuickJSContext) => (context as unknown as { ctx: { value: number } }).ctx.value,
  hostRefs: (runtime: QuickJSRuntime) => (runtime as unknown as { hostRefs: HostRefs }).hostRefs,
  valueHandle: (context: QuickJSContext, pointer: number) =>
    (context as unknown as { memory: { heapValueHandle(ptr: number): QuickJSHandle } }).memory.heapValueHandle(pointer),
}

/**
 * Zeroes what initializing `bare` wrote outside the image, then writes the image; see {@link writeImage}. @internal
 */
export function writeCleared(bare: BareModule, snapshot: InstanceImage, memoryLimitBytes: number): PreparedInstance | undefined {
  const bytes = new Uint8Array(bare.memory.buffer)
  for (const { at, length } of snapshot.clear) bytes.fill(0, at, at + length)
  return writeImage(bare, snapshot, memoryLimitBytes)
}

/** Pure; every byte of a memory restored from `snapshot`, as one array (zeros outside its regions). @internal */
export function imageBytes(snapshot: InstanceImage): Uint8Array {
  const bytes = new Uint8Array(snapshot.pages * WASM_PAGE)
  for (const { at, bytes: region } of snapshot.regions) bytes.set(region, at)
  return bytes
}

/** The host reference ids registered in `instance`'s runtime, in registration order. @internal */
export function hostRefIds(instance: PreparedInstance): number[] {
  return [...internals.hostRefs(instance.runtime).groups.values()].flatMap((g) => [...g.keys()])
}

/** A handle of the `JSValue *` at `pointer` in `context` (a restored instance's wrappers point at the image's). @internal */
export function valueHandleAt(context: QuickJSContext, pointer: number): QuickJSHandle {
  return internals.valueHandle(context, pointer)
}

/**
 * Writes the image into a zeroed (where initialization wrote) memory and builds new host-side wrappers around it;
 * `undefined` when the host functions would not get the image's reference ids. @internal
 */
export function writeImage(bare: BareModule, snapshot: InstanceImage, memoryLimitBytes: number): PreparedInstance | undefined {
  const { module, memory, guard } = bare
  const bytes = new Uint8Array(memory.buffer)
  for (const { at, bytes: region } of snapshot.regions) bytes.set(region, at)
  reseedRandom(memory, snapshot)
  const m = module as unknown as ModuleInternals
  const rt = new Lifetime(snapshot.runtime, undefined, (pointer: number) => {
    m.ffi.QTS_FreeRuntime(pointer)
    m.callbacks.deleteRuntime(pointer)
  })
  const runtime = new QuickJSRuntime({ module: m.module, ffi: m.ffi, callbacks: m.callbacks, rt } as unknown as ConstructorParameters<typeof QuickJSRuntime>[0])
  const context = runtime.newContext({ contextPointer: snapshot.context as never })
  const prepared: Mutable<PreparedInstance> = { memoryLimitBytes, memory, runtime, context, install: context.undefined, guard, module, binding: undefined }
  runtime.setInterruptHandler(interruptHandler(prepared))
  const refs = internals.hostRefs(runtime)
  const ids = hostFunctions(prepared).map(([, fn]) => refs.put(fn))
  if (ids.some((id, i) => id !== snapshot.hostRefs[i])) return undefined
  prepared.install = internals.valueHandle(context, snapshot.install)
  prepared.image = snapshot
  return prepared
}
