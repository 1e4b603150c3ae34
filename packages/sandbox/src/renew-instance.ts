/**
 * Spent instances turned back into never-used ones with the image (see `instance-image.ts`): renewed (a new
 * WebAssembly instance on the spent one's zeroed memory) or, opt-in, recycled (the instance itself reset in place),
 * when the spent instance qualifies. A pool hands its spent instances back for this (see `InstancePool.giveBack`).
 */
import type { InstanceImage } from './instance-image.js'
import { type PreparedInstance, newBareModule } from './quickjs-instance.js'
import { writeCleared, writeImage } from './write-image.js'
import { zeroMemory } from './zero-memory.js'
import { WASM_PAGE } from './wasm.js'

/**
 * Pure; whether a spent instance qualifies for {@link renewInstance} (a new instance on its memory) or
 * {@link recycleInstance} (the instance itself reset). Either way nothing may still be running in it and its memory
 * must not have grown; reusing the instance itself also needs it to have ended normally. @internal
 */
export function reusable(spent: PreparedInstance, snapshot: InstanceImage, how: 'renew' | 'recycle'): boolean {
  const { guard, memory } = spent
  if (guard.callbackDepth !== 0 || spent.binding !== undefined) return false
  if (memory.buffer.byteLength !== snapshot.pages * WASM_PAGE) return false
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
