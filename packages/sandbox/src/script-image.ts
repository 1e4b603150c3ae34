/**
 * Script images: a script's top level loaded once per thread, then written into each new instance instead of being
 * compiled and run again. Loading a script (installing the tools, compiling the source, running its top level) is the
 * largest part of an evaluation after the instance itself: 1.1 ms of 2.6 for the 200-line script, and a fifth of a
 * small consumer's evaluation. Its result is bytes in the instance's linear memory, like the never-used instance
 * that `instance-image.ts` copies.
 *
 * An image is only taken of a top level whose result cannot depend on when or where it ran. Two never-used instances
 * restored from the thread's image (with different `Math.random` seeds) load the script, and the image is kept only
 * if:
 * - neither top level read the clock or the time zone (the guard counts those imports),
 * - neither stepped `Math.random`'s state,
 * - both loads succeeded without a tool call (a preload refuses those), registered no host function and did not grow
 *   the memory,
 * - and the two memories are equal byte for byte, but for the random state.
 *
 * An instance loaded from the image is then, byte for byte, a never-used instance in which that script's top level
 * ran (a test compares them): a new WebAssembly instance on a memory nothing else used since it was zeroed, which
 * serves one evaluation. Its `Math.random` gets a seed of its own, its top-level console lines are reported again
 * with each evaluation, and the top level's CPU time counts against each evaluation's limit, as for a preload.
 * What a handler changes in the script's state is gone with its instance, as before.
 */
import { Buffer } from 'node:buffer'
import type { Preloaded } from './evaluation.js'
import type { InstanceImage } from './instance-image.js'
import type { PreparedInstance } from './quickjs-instance.js'
import { randomStateOf, reseedRandom } from './reseed-random.js'
import type { ConsoleLevel } from './types.js'
import { hostRefIds, imageBytes, valueHandleAt } from './write-image.js'
import { chunkRegions } from './zero-memory.js'
import { WASM_PAGE } from './wasm.js'


/** A script's top level, loaded, as the bytes it changed in a never-used instance restored from `base`. @internal */
export interface ScriptImage {
  /** The image of a never-used instance that {@link ScriptImage.delta} applies to. */
  base: InstanceImage
  /** The chunks in which the loaded memory differs from the base image, with the loaded bytes. */
  delta: Array<{ at: number; bytes: Uint8Array }>
  /** The `JSValue *`s of the guest API's functions and of the `workflow` value. */
  pointers: { run: number; describe: number; explain: number; workflow: number }
  /** The top level's console lines. */
  logs: ReadonlyArray<readonly [ConsoleLevel, string]>
  /** The top level's guest CPU time when the image was taken. */
  guestMs: number
}

/**
 * Why a script has no image. `not-preloadable`: a load stopped at a tool call or at the preload's CPU cap, which a busy
 * machine can also cause (the pool tries again later); `not-loaded`: it failed (a syntax error, a throw). @internal
 */
export type ScriptImageRefusal = 'not-restored' | 'not-preloadable' | 'not-loaded' | 'clock' | 'random' | 'grew' | 'host-refs' | 'differs'

/** What {@link probeScriptImage} found: the two loads (each a preload to use or give back) and the image or why not. @internal */
export interface ScriptImageProbe {
  loads: [Preloaded | undefined, Preloaded | undefined]
  image: ScriptImage | ScriptImageRefusal
}

/** Pure; the 4 KiB regions in which `a` and `b` (of equal length) differ, merged when adjacent. */
export function differingRegions(a: Uint8Array, b: Uint8Array): Array<{ at: number; length: number }> {
  const left = Buffer.from(a.buffer, a.byteOffset, a.byteLength)
  const right = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  return chunkRegions(left.byteLength, (at, end) => left.compare(right, at, end, at, end) !== 0)
}

/**
 * Loads a script into two never-used instances restored from the same image (`load` is `Evaluation.preload` for the
 * script's plan) and takes the script's image when both loads prove it safe (see the module's comment). Both loads
 * are returned either way: each is a preload as good as any other.
 */
export function probeScriptImage(
  first: PreparedInstance,
  second: PreparedInstance,
  load: (instance: PreparedInstance) => Preloaded | undefined,
): ScriptImageProbe {
  const base = first.image
  if (base === undefined || second.image !== base) return { loads: [load(first), load(second)], image: 'not-restored' }
  const before = [first, second].map((instance) => ({
    clock: instance.guard.clockReads,
    seed: randomStateOf(instance.memory, base),
    refs: hostRefIds(instance).join(),
  }))
  const loads: ScriptImageProbe['loads'] = [load(first), load(second)]
  const refusal = ((): ScriptImageRefusal | undefined => {
    const [a, b] = loads
    if (a === undefined || b === undefined) return 'not-preloadable'
    if (a.failure !== undefined || b.failure !== undefined) return 'not-loaded'
    if (a.api === undefined || a.workflow === undefined) return 'not-loaded'
    if (b.api === undefined || b.workflow === undefined || JSON.stringify(a.logs) !== JSON.stringify(b.logs)) return 'not-loaded'
    const instances = [first, second]
    if (instances.some((instance, i) => instance.guard.clockReads !== before[i]!.clock)) return 'clock'
    if (instances.some((instance, i) => randomStateOf(instance.memory, base) !== before[i]!.seed)) return 'random'
    if (instances.some((instance) => instance.memory.buffer.byteLength !== base.pages * WASM_PAGE)) return 'grew'
    if (instances.some((instance, i) => hostRefIds(instance).join() !== before[i]!.refs)) return 'host-refs'
    const pointers = (p: Preloaded) => [p.api!.run, p.api!.describe, p.api!.explain, p.workflow!].map((h) => h.value as unknown as number).join()
    if (pointers(a) !== pointers(b)) return 'differs'
    // The second instance is spent after this probe: its seed is overwritten with the first's to compare the rest.
    reseedRandom(second.memory, base, randomStateOf(first.memory, base))
    if (Buffer.compare(new Uint8Array(first.memory.buffer), new Uint8Array(second.memory.buffer)) !== 0) return 'differs'
    return undefined
  })()
  if (refusal !== undefined) return { loads, image: refusal }
  const [a] = loads as [Preloaded, Preloaded]
  const loaded = new Uint8Array(first.memory.buffer)
  const delta = differingRegions(loaded, imageBytes(base)).map(({ at, length }) => ({ at, bytes: loaded.slice(at, at + length) }))
  const value = (h: { value: unknown }) => h.value as number
  const pointers = { run: value(a.api!.run), describe: value(a.api!.describe), explain: value(a.api!.explain), workflow: value(a.workflow!) }
  return { loads, image: { base, delta, pointers, logs: a.logs.slice(), guestMs: a.guestMs } }
}

/**
 * Writes `image` into a never-used instance restored from its base image, with a `Math.random` seed of its own, and
 * returns it as a preloaded script; `undefined` (nothing written) when the instance was not restored from that image
 * or something already ran in it.
 */
export function loadScriptImage(instance: PreparedInstance, image: ScriptImage): Preloaded | undefined {
  if (instance.image !== image.base || instance.binding !== undefined || instance.guard.killed) return undefined
  if (instance.memory.buffer.byteLength !== image.base.pages * WASM_PAGE) return undefined
  const bytes = new Uint8Array(instance.memory.buffer)
  for (const { at, bytes: region } of image.delta) bytes.set(region, at)
  reseedRandom(instance.memory, image.base)
  instance.image = undefined
  const { context } = instance
  const { run, describe, explain, workflow } = image.pointers
  return {
    instance,
    api: { run: valueHandleAt(context, run), describe: valueHandleAt(context, describe), explain: valueHandleAt(context, explain) },
    workflow: valueHandleAt(context, workflow),
    logs: image.logs.slice(),
    guestMs: image.guestMs,
    failure: undefined,
  }
}
