/**
 * Instances restored from an image of a never-used instance. Creating an instance from scratch spends half its time
 * inside the guest: QuickJS builds a runtime and a context (every intrinsic) and compiles the prelude, and all of
 * that ends as bytes in the instance's linear memory. So once per thread an instance is created from scratch and its
 * memory copied (the image), once the thread has created enough instances for the image to pay off (see
 * `SCRATCH_INSTANCES_BEFORE_IMAGE`); later instances get a fresh `WebAssembly.Memory` and a fresh `WebAssembly.Instance`
 * as before, then the image's bytes instead of that work. A restored instance is exactly a never-used instance:
 * nothing ever ran in it, nothing is shared with another instance, and its memory is bounded the same way.
 *
 * What is not in the memory is rebuilt: the host-side wrappers of the runtime and context (pointing at the same
 * addresses), the host functions (registered under the same host reference ids), and `Math.random`'s state, which
 * QuickJS seeds when it creates a context and which the image would otherwise share: every restored context gets a
 * seed from `crypto.getRandomValues`. The image is checked before use (restored instances must run a handler with a
 * tool call, console lines, the lazily compiled part of the prelude and distinct random numbers); if anything
 * differs, this thread creates every instance from scratch.
 */
import { Buffer } from 'node:buffer'
import { webcrypto } from 'node:crypto'
import { Lifetime, QuickJSRuntime, type QuickJSContext, type QuickJSHandle } from 'quickjs-emscripten-core'
import { runPlan } from './create-sandbox-runner.js'
import { planEvaluation } from './evaluation-plan.js'
import { resolveLimits } from './limits.js'
import {
  type BareModule,
  type Mutable,
  type PreparedInstance,
  createInstance,
  dropInstance,
  hostFunctions,
  interruptHandler,
  newBareModule,
} from './quickjs-instance.js'
import type { WasmMemory } from './wasm.js'

const PAGE = 64 * 1024
/** Granularity of the copied regions. */
const CHUNK = 4096
/** Host functions an instance registers (see `hostFunctions`). */
const HOST_FUNCTIONS = 4
/** Bytes of the context structure searched for the `Math.random` state. */
const CONTEXT_BYTES = 2048

/** The bytes of a never-used instance, and the addresses its host-side wrappers point at. @internal */
export interface InstanceImage {
  /** Memory size (WebAssembly pages) when the image was taken. */
  pages: number
  /** The image's non-zero regions. */
  regions: Array<{ at: number; bytes: Uint8Array }>
  /** Regions a freshly initialized module has written (zeroed before the image is written). */
  clear: Array<{ at: number; length: number }>
  runtime: number
  context: number
  /** The `JSValue *` of the prelude's `install`. */
  install: number
  /** Host reference ids of the host functions, in registration order. */
  hostRefs: number[]
  /** Offset of the context's 64-bit `Math.random` state from the context pointer. */
  randomState: number
}

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
const internals = {
  runtimePointer: (runtime: QuickJSRuntime) => (runtime as unknown as { rt: { value: number } }).rt.value,
  contextPointer: (context: QuickJSContext) => (context as unknown as { ctx: { value: number } }).ctx.value,
  hostRefs: (runtime: QuickJSRuntime) => (runtime as unknown as { hostRefs: HostRefs }).hostRefs,
  valueHandle: (context: QuickJSContext, pointer: number) =>
    (context as unknown as { memory: { heapValueHandle(ptr: number): QuickJSHandle } }).memory.heapValueHandle(pointer),
}

/**
 * Instances a thread creates from scratch before it takes an image. Taking the image costs about what 10 restored
 * instances save (measured on the 2-core VM inside a running pipeline: 37 ms to take it; about 7 ms per instance
 * from scratch, 3 ms restored), so it is bought once creating from scratch has cost about as much: a process that
 * evaluates a few handlers and exits (a CLI command, a recovery) never pays for it, and a long-lived one pays at
 * most about twice what the best choice in hindsight would have cost.
 */
export const SCRATCH_INSTANCES_BEFORE_IMAGE = 10

let image: Promise<InstanceImage | undefined> | undefined
/** A zeroed memory whose pages have all been read once, for the next restored instance (see `takeImage`). */
let spare: { memory: WasmMemory; memoryLimitBytes: number } | undefined
/** Instances this thread created from scratch while it had no image. */
let fromScratch = 0
/** `LEDGERFLOW_SANDBOX_IMAGES=0` turns images off in every thread (a diagnostic for benchmarks). */
let enabled = process.env.LEDGERFLOW_SANDBOX_IMAGES !== '0'

/** Turns images off (or on again) for this thread, and forgets its image; benchmarks compare both. @internal */
export function useInstanceImages(on: boolean): void {
  enabled = on
  image = undefined
  spare = undefined
  fromScratch = 0
}

/** Pure; whether a thread that created `fromScratch` instances without an image should take one now. */
export function imagePaysOff(fromScratch: number): boolean {
  return fromScratch >= SCRATCH_INSTANCES_BEFORE_IMAGE
}

/**
 * The image to restore the next instance from: `undefined` (create it from scratch) while images are off, or while
 * this thread has not yet created enough instances for an image to pay off. @internal
 */
export function imageForNextInstance(): Promise<InstanceImage | undefined> {
  if (!enabled) return Promise.resolve(undefined)
  if (image === undefined && !imagePaysOff(fromScratch)) {
    fromScratch++
    return Promise.resolve(undefined)
  }
  return instanceImage()
}

/** This thread's image if it has taken one (never takes it). @internal */
export function takenImage(): Promise<InstanceImage | undefined> | undefined {
  return enabled ? image : undefined
}

/** This thread's image, taken now if it has none; `undefined` when images are off or the check failed. @internal */
export function instanceImage(): Promise<InstanceImage | undefined> {
  if (!enabled) return Promise.resolve(undefined)
  image ??= takeImage().catch(() => undefined)
  return image
}

/** Granularity of {@link zeroMemory}. */
const ZERO_CHUNK = 64 * 1024
/** Zeros to compare chunks of memory with (the largest chunk any scan here compares). */
const zeros = Buffer.alloc(ZERO_CHUNK)

/** Whether `bytes[at, end)` are all zero (`end - at` at most {@link ZERO_CHUNK}), compared in native code. */
const allZero = (bytes: Buffer, at: number, end: number) => bytes.compare(zeros, 0, end - at, at, end) === 0

/**
 * Sets every byte of `memory` to zero, writing only to the 64 KiB chunks that hold a non-zero byte. An evaluation
 * writes to a few hundred KiB of its 6 MiB memory; the pages nobody wrote are still mapped to the kernel's shared
 * zero page, so reading them is cheap, while writing zeros to them would give each a page of its own and make
 * every renewal stream 6 MiB through the cache. Measured on the 2-core VM: 0.25 ms per renewal instead of 0.9.
 * The result is the same as zeroing everything: every non-zero byte is found. @internal
 */
export function zeroMemory(memory: WasmMemory): void {
  const bytes = Buffer.from(memory.buffer)
  for (let at = 0; at < bytes.length; at += ZERO_CHUNK) {
    const end = Math.min(at + ZERO_CHUNK, bytes.length)
    if (!allZero(bytes, at, end)) bytes.fill(0, at, end)
  }
}

/**
 * Pure; the `CHUNK`-sized regions of `[0, length)` for which `differs(at, end)` holds, merged when adjacent. @internal
 */
export function chunkRegions(length: number, differs: (at: number, end: number) => boolean): Array<{ at: number; length: number }> {
  const regions: Array<{ at: number; length: number }> = []
  for (let at = 0; at < length; at += CHUNK) {
    const end = Math.min(at + CHUNK, length)
    if (!differs(at, end)) continue
    const last = regions.at(-1)
    if (last !== undefined && last.at + last.length === at) last.length += end - at
    else regions.push({ at, length: end - at })
  }
  return regions
}

/**
 * Pure; the non-zero `CHUNK`-sized regions of `bytes`, merged when adjacent. Each chunk is compared with zeros in
 * native code: the scan runs once per thread over two whole memories, and a JavaScript loop over their words ran
 * in the interpreter (6 ms per 6 MiB).
 */
export function nonZeroRegions(bytes: Uint8Array): Array<{ at: number; length: number }> {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return chunkRegions(view.byteLength, (at, end) => !allZero(view, at, end))
}

/** Pure; one step of xorshift64*'s state, as QuickJS's `Math.random` takes it. */
export function xorshiftStep(x: bigint): bigint {
  const mask = (1n << 64n) - 1n
  x ^= x >> 12n
  x = (x ^ (x << 25n)) & mask
  x ^= x >> 27n
  return x
}

/** The offset of the context's `Math.random` state: the one aligned 64-bit field a call steps as xorshift64*. */
function findRandomState(instance: PreparedInstance): number | undefined {
  const ctx = internals.contextPointer(instance.context)
  const read = () => {
    const view = new DataView(instance.memory.buffer)
    return Array.from({ length: CONTEXT_BYTES / 8 }, (_, i) => view.getBigUint64(ctx + 8 * i, true))
  }
  const before = read()
  instance.context.unwrapResult(instance.context.evalCode('Math.random()')).dispose()
  const after = read()
  const found = before.flatMap((x, i) => (x !== 0n && after[i] === xorshiftStep(x) ? [8 * i] : []))
  return found.length === 1 ? found[0] : undefined
}

/**
 * Takes this thread's image. Reading a page of a new `WebAssembly.Memory` for the first time costs a page fault
 * (12–30 µs each on the 2-core VM, about 20–45 ms for a whole 6 MiB memory), so the scans share one memory: the
 * template's. Its non-zero regions are copied (not the whole memory), then it is zeroed and a bare module initialized
 * on it shows what initialization writes (`clear`), and that module becomes the first instance the check restores.
 */
async function takeImage(): Promise<InstanceImage | undefined> {
  const limit = resolveLimits().memoryLimitBytes
  const template = await createInstance(limit)
  const { memory } = template
  const bytes = new Uint8Array(memory.buffer)
  const regions = nonZeroRegions(bytes).map(({ at, length }) => ({ at, bytes: bytes.slice(at, at + length) }))
  const pointers = {
    runtime: internals.runtimePointer(template.runtime),
    context: internals.contextPointer(template.context),
    install: template.install.value as unknown as number,
    hostRefs: [...internals.hostRefs(template.runtime).groups.values()].flatMap((g) => [...g.keys()]),
  }
  // The template is used from here on (it runs Math.random), and then let go; only its memory object is kept.
  const randomState = findRandomState(template)
  dropInstance(template)
  if (randomState === undefined || pointers.hostRefs.length !== HOST_FUNCTIONS) return undefined
  if (memory.buffer.byteLength !== bytes.byteLength) return undefined
  zeroMemory(memory)
  const first = await newBareModule(limit, bytes.byteLength / PAGE, memory)
  const snapshot: InstanceImage = {
    pages: bytes.byteLength / PAGE,
    regions,
    // Zeroed before the image is written: whatever initialization wrote that the image does not hold.
    clear: nonZeroRegions(new Uint8Array(memory.buffer)),
    ...pointers,
    randomState,
  }
  return (await imageWorks(snapshot, limit, first)) ? snapshot : undefined
}

/**
 * Restores two instances (the first on `first`, the second on a new memory) and runs a handler in each: tools,
 * console, the lazy prelude part and Math.random.
 */
async function imageWorks(snapshot: InstanceImage, limit: number, first: BareModule): Promise<boolean> {
  const code = `const workflow = { consumers: { T: { async prepare(n) {
    const a = await T.get({ n });
    console.log("got", a);
    return [a.n, Math.random()];
  } } } };`
  const values: unknown[] = []
  let checked: WasmMemory | undefined
  for (let n = 1; n <= 2; n++) {
    const logs: string[] = []
    const planned = planEvaluation(
      { code, handler: { group: 'consumers', name: 'T', method: 'prepare' }, args: [n], globals: { T: ['get'] }, host: async (c) => c.input, onConsole: (_, m) => logs.push(m) },
      resolveLimits(),
    )
    if (!planned.ok) return false
    const instance = n === 1 ? writeCleared(first, snapshot, limit) : await restoreInstance(snapshot, limit)
    if (instance === undefined) return false
    const outcome = await runPlan(planned.plan, instance, 'drop')
    if (!outcome.ok || logs.join() !== `got { n: ${n} }`) return false
    values.push(outcome.value)
    if (n === 1 && reusable(instance, snapshot, 'renew')) checked = instance.memory
  }
  const [a, b] = values as Array<[number, number]>
  const works = a?.[0] === 1 && b?.[0] === 2 && typeof a[1] === 'number' && a[1] !== b[1]
  // The first one's memory has had every page read (faulted in): it becomes the next restored instance's memory.
  if (works && checked !== undefined) {
    zeroMemory(checked)
    spare = { memory: checked, memoryLimitBytes: limit }
  }
  return works
}

/** A never-used instance restored from `snapshot` (from scratch if its host functions would not line up). @internal */
export async function restoreInstance(snapshot: InstanceImage, memoryLimitBytes: number, pause?: () => Promise<void>): Promise<PreparedInstance> {
  // The spare's maximum is its limit: it serves only an instance with the same limit.
  const memory = spare?.memoryLimitBytes === memoryLimitBytes && spare.memory.buffer.byteLength === snapshot.pages * PAGE ? spare.memory : undefined
  if (memory !== undefined) spare = undefined
  const bare = await newBareModule(memoryLimitBytes, snapshot.pages, memory)
  await pause?.()
  return writeCleared(bare, snapshot, memoryLimitBytes) ?? createInstance(memoryLimitBytes)
}

/** Zeroes what initializing `bare` wrote outside the image, then writes the image; see {@link writeImage}. */
function writeCleared(bare: BareModule, snapshot: InstanceImage, memoryLimitBytes: number): PreparedInstance | undefined {
  const bytes = new Uint8Array(bare.memory.buffer)
  for (const { at, length } of snapshot.clear) bytes.fill(0, at, at + length)
  return writeImage(bare, snapshot, memoryLimitBytes)
}

/**
 * Pure; whether a spent instance qualifies for {@link renewInstance} (a new instance on its memory) or
 * {@link recycleInstance} (the instance itself reset). Either way nothing may still be running in it and its memory
 * must not have grown; reusing the instance itself also needs it to have ended normally. @internal
 */
export function reusable(spent: PreparedInstance, snapshot: InstanceImage, how: 'renew' | 'recycle'): boolean {
  const { guard, memory } = spent
  if (guard.callbackDepth !== 0 || spent.binding !== undefined) return false
  if (memory.buffer.byteLength !== snapshot.pages * PAGE) return false
  return how === 'renew' || (!guard.killed && !guard.memoryExhausted)
}

/**
 * Turns a used instance back into a never-used one, in place: its whole memory is zeroed and the image written, so
 * every byte equals a restored instance's (but for `Math.random`'s fresh seed), and the host-side wrappers are new.
 * What the evaluation left anywhere in the memory is gone; the WebAssembly instance, its memory object and the
 * emscripten module are kept, which saves creating them (a new memory, a new instance, the emscripten set-up and the
 * garbage collection of the old ones: most of an instance's cost).
 *
 * Only an instance that ended normally qualifies: no host exception unwound through its WebAssembly frames (which
 * would leave the C stack pointer, a WebAssembly global the image cannot restore, mid-stack), it never ran out of
 * memory, no host callback is running in it, and its memory never grew (a grown memory cannot shrink back to the
 * image's size). Returns `undefined` for any other instance; the caller drops it. The caller must hold the only
 * reference to `used`: its old wrappers are never touched again (freeing them would free the restored objects).
 * @internal
 */
export function recycleInstance(used: PreparedInstance, snapshot: InstanceImage): PreparedInstance | undefined {
  const { guard, memory } = used
  if (!reusable(used, snapshot, 'recycle')) return undefined
  zeroMemory(memory)
  return writeImage({ module: used.module, memory, guard }, snapshot, used.memoryLimitBytes)
}

/**
 * A new instance on the memory of a spent one: the memory is zeroed, a new WebAssembly instance (with its own
 * globals, table and emscripten module) is created on it, and the image is written as for any restored instance.
 * What the spent evaluation left in the memory is gone, and the instance itself is new; only the memory object is
 * reused, which saves allocating a memory, faulting its pages in again, and collecting the old one. The memory must
 * not have grown (it cannot shrink back), and nothing may still use the spent instance: the caller holds the only
 * reference, and no host callback is running in it. `undefined` when the spent instance does not qualify.
 * @internal
 */
export async function renewInstance(spent: PreparedInstance, snapshot: InstanceImage): Promise<PreparedInstance | undefined> {
  const { memory } = spent
  if (!reusable(spent, snapshot, 'renew')) return undefined
  zeroMemory(memory)
  const bare = await newBareModule(spent.memoryLimitBytes, snapshot.pages, memory)
  return writeCleared(bare, snapshot, spent.memoryLimitBytes)
}

/** Seeds drawn from the system's generator in batches (one call per instance showed up in profiles). */
const seeds = new BigUint64Array(64)
let seedsLeft = 0

/** A non-zero seed for `Math.random` (xorshift64* must not start at zero), never handed out twice. */
function randomSeed(): bigint {
  for (;;) {
    if (seedsLeft === 0) {
      webcrypto.getRandomValues(seeds)
      seedsLeft = seeds.length
    }
    const seed = seeds[--seedsLeft]!
    seeds[seedsLeft] = 0n
    if (seed !== 0n) return seed
  }
}

/** Gives the context of an instance restored from `snapshot` a `Math.random` seed of its own (or `seed`). @internal */
export function reseedRandom(memory: WasmMemory, snapshot: InstanceImage, seed = randomSeed()): void {
  new DataView(memory.buffer).setBigUint64(snapshot.context + snapshot.randomState, seed, true)
}

/** The `Math.random` state of an instance restored from `snapshot`. @internal */
export function randomStateOf(memory: WasmMemory, snapshot: InstanceImage): bigint {
  return new DataView(memory.buffer).getBigUint64(snapshot.context + snapshot.randomState, true)
}

/** Pure; every byte of a memory restored from `snapshot`, as one array (zeros outside its regions). @internal */
export function imageBytes(snapshot: InstanceImage): Uint8Array {
  const bytes = new Uint8Array(snapshot.pages * PAGE)
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
 * `undefined` when the host functions would not get the image's reference ids.
 */
function writeImage(bare: BareModule, snapshot: InstanceImage, memoryLimitBytes: number): PreparedInstance | undefined {
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
