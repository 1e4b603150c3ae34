/**
 * Scanning and zeroing the linear memory of instances (see `instance-image.ts`): which chunks of a memory hold a
 * non-zero byte, compared with zeros in native code, and zeroing only those. Taking the image copies the non-zero
 * regions of a never-used instance's memory; a memory is zeroed before a renewed or recycled instance gets the image.
 */
import { Buffer } from 'node:buffer'
import type { WasmMemory } from './wasm.js'

/** Granularity of the copied regions. */
const CHUNK = 4096

/** Granularity of {@link zeroMemory}. */
const ZERO_CHUNK = 64 * 1024
/** Zeros to compare chunks of memory with (the largest chunk any scan here compares). */
const zeros = Buffer.alloc(ZERO_CHUNK)

/** Whether `bytes[at, end)` are all zero (`end - at` at most {@link ZERO_CHUNK}), compared in native code. */
const allZero = (bytes: Buffer, at: number, end: number) => bytes.compare(zeros, 0, end - at, at, end) === 0

/**
 * Sets every byte of `memory` to zero, writing only to the 64 KiB chunks that hold a non-zero byte. An evaluation
 * writes to a few hundred KiB of its 2 MiB memory (6 MiB before `shadow-stack.ts`); the pages nobody wrote are still
 * mapped to the kernel's shared zero page, so reading them is cheap, while writing zeros to them would give each a
 * page of its own and make every renewal stream the whole memory through the cache. Measured on the 2-core VM with the 6 MiB memory: 0.25 ms
 * per renewal instead of 0.9; with the 2 MiB one the scan takes about a third of that.
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
