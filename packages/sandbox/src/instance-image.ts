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
 *
 * This module holds the image: when a thread takes it, taking and checking it, and restoring an instance from it.
 * Writing it into a module is in `write-image.ts`, renewing or recycling a spent instance with it in
 * `renew-instance.ts`, the memory scans and zeroing in `zero-memory.ts`, and `Math.random`'s seed in
 * `reseed-random.ts`.
 */
import { runPlan } from './run-plan.js'
import { planEvaluation } from './evaluation-plan.js'
import { resolveLimits } from './limits.js'
import { type BareModule, type PreparedInstance, createInstance, dropInstance, newBareModule } from './quickjs-instance.js'
import { reusable } from './renew-instance.js'
import { xorshiftStep } from './reseed-random.js'
import { WASM_PAGE, type WasmMemory } from './wasm.js'
import { internals, writeCleared } from './write-image.js'
import { nonZeroRegions, zeroMemory } from './zero-memory.js'

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
 * (12–30 µs each on the 2-core VM, about 7–15 ms for a whole 2 MiB memory), so the scans share one memory: the
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
  const first = await newBareModule(limit, bytes.byteLength / WASM_PAGE, memory)
  const snapshot: InstanceImage = {
    pages: bytes.byteLength / WASM_PAGE,
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
  const memory = spare?.memoryLimitBytes === memoryLimitBytes && spare.memory.buffer.byteLength === snapshot.pages * WASM_PAGE ? spare.memory : undefined
  if (memory !== undefined) spare = undefined
  const bare = await newBareModule(memoryLimitBytes, snapshot.pages, memory)
  await pause?.()
  return writeCleared(bare, snapshot, memoryLimitBytes) ?? createInstance(memoryLimitBytes)
}
