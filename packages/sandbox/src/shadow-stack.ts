/**
 * Shrinks the shadow stack of the QuickJS build, so that every instance's linear memory is a third of its size.
 *
 * The emscripten build reserves 5 MiB of linear memory for the C stack (the "shadow stack": locals whose address is
 * taken live there, not on the host's native stack), between its static data and its heap. A guest can use only a
 * fraction of it: QuickJS stops a script at `maxStackBytes` (default 256 KiB, at most {@link MAX_GUEST_STACK_BYTES}),
 * and V8's native stack overflows first on deeper recursion anyway (see `limits.ts`). The rest is never written, yet
 * it costs on every evaluation: a spent memory is scanned for non-zero bytes before it is renewed (`zero-memory.ts`),
 * and 5 of its 6 MiB were that untouched stack. Measured on the 2-core VM, the sandbox thread's CPU per pipeline
 * event fell by a fifth with a 1 MiB stack.
 *
 * The binary is patched where the layout is written down, each in place and in the same number of bytes:
 * - the initial stack pointer (the first global's `i32.const`) becomes the bottom of the stack plus the new size;
 * - the main thread's stack record, two words the build's start-up code stores (the top, and the size right after
 *   it), gets the new top and size;
 * - the heap's initial break (`sbrk`'s variable, in a data segment) becomes the new top, so the heap starts right
 *   above the smaller stack.
 * Anything else about the binary is left as it is. If the binary does not have exactly this shape (one place for
 * each), nothing is patched and the build's own layout is used.
 */
import { Buffer } from 'node:buffer'
import { inspectWasm, readLeb, sectionsOf } from './wasm-layout.js'

/** The shadow stack every instance gets: 4 × the default guest stack, with room below the largest allowed limit. */
export const SHADOW_STACK_BYTES = 1024 * 1024

/**
 * The largest `maxStackBytes` accepted: QuickJS checks its limit when a function is entered, and C code below that
 * point (error formatting, a builtin's frames) needs room of its own, which this margin of 256 KiB leaves.
 */
export const MAX_GUEST_STACK_BYTES = 768 * 1024

/** A binary with a smaller shadow stack. */
export interface ShrunkStack {
  bytes: Uint8Array
  /** The new initial stack pointer, which is also where the heap starts. */
  stackTop: number
}

const I32_CONST = 0x41
/** `i32.store` with 4-byte alignment and offset 0. */
const I32_STORE = [0x36, 0x02, 0x00] as const
const END = 0x0b

/** Pure; a signed LEB128 read at `at` (an `i32.const`'s immediate). */
const readSleb = (bytes: Uint8Array, at: number) => readLeb(bytes, at, true)

/** Pure; `value` as a signed LEB128 of exactly `length` bytes (padded), or `undefined` when it does not fit. */
function slebOfLength(value: number, length: number): number[] | undefined {
  if (value < 0 || value >= 2 ** (7 * length - 1)) return undefined
  return Array.from({ length }, (_, i) => ((value >>> (7 * i)) & 0x7f) | (i < length - 1 ? 0x80 : 0))
}

/** Pure; the shortest signed LEB128 of a non-negative `value`. */
function sleb(value: number): number[] {
  for (let length = 1; ; length++) {
    const encoded = slebOfLength(value, length)
    if (encoded) return encoded
  }
}

/** Pure; the four bytes of a 32-bit word as linear memory holds it (little-endian). */
const littleEndian = (value: number) => [0, 8, 16, 24].map((shift) => (value >>> shift) & 0xff)

/** Pure; every index in `[from, to)` where `pattern` starts (searched in native code: the code section is 400 KB). */
function occurrences(bytes: Uint8Array, pattern: readonly number[], from: number, to: number): number[] {
  const haystack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const needle = Buffer.from(pattern)
  const found: number[] = []
  for (let i = haystack.indexOf(needle, from); i >= 0 && i + needle.length <= to; i = haystack.indexOf(needle, i + 1)) found.push(i)
  return found
}

/**
 * Pure; the `i32.const` that ends right before `end`: a LEB128's last byte is below 0x80 and its other bytes are not,
 * so the first byte below 0x80 further back is the opcode.
 */
function constEndingAt(bytes: Uint8Array, end: number): { at: number; value: number; length: number } | undefined {
  if (end < 2 || bytes[end - 1]! >= 0x80) return undefined
  let at = end - 2
  while (at >= 0 && bytes[at]! >= 0x80) at--
  if (at < 0 || bytes[at] !== I32_CONST) return undefined
  const { value, next } = readSleb(bytes, at + 1)
  return next === end ? { at, value, length: end - at - 1 } : undefined
}

/** Pure; the active data segments: where each one's bytes are in the binary and the address they are written to. */
function dataSegments(bytes: Uint8Array, start: number): Array<{ address: number; from: number; to: number }> | undefined {
  const count = readLeb(bytes, start)
  let p = count.next
  const segments: Array<{ address: number; from: number; to: number }> = []
  for (let n = 0; n < count.value; n++) {
    // Only the plain form: active, memory 0, `i32.const address; end`.
    if (bytes[p] !== 0 || bytes[p + 1] !== I32_CONST) return undefined
    const address = readSleb(bytes, p + 2)
    if (bytes[address.next] !== END) return undefined
    const length = readLeb(bytes, address.next + 1)
    segments.push({ address: address.value, from: length.next, to: length.next + length.value })
    p = length.next + length.value
  }
  return segments
}

/**
 * Pure; a copy of `bytes` whose shadow stack is `stackBytes` long and whose heap starts right above it, or
 * `undefined` when the binary is not laid out as expected (see the module comment).
 */
export function shrinkShadowStack(bytes: Uint8Array, stackBytes = SHADOW_STACK_BYTES): ShrunkStack | undefined {
  try {
    return shrink(bytes, stackBytes)
  } catch {
    return undefined // a malformed LEB128: not the expected binary
  }
}

function shrink(bytes: Uint8Array, stackBytes: number): ShrunkStack | undefined {
  const top = inspectWasm(bytes)?.stackTop
  const sections = sectionsOf(bytes)
  const globals = sections?.find((s) => s.id === 6)
  const code = sections?.find((s) => s.id === 10)
  const data = sections?.find((s) => s.id === 11)
  if (top === undefined || !globals || !code || !data) return undefined

  // The initial stack pointer: the first global, `i32 mut = i32.const <top>`.
  const globalConst = readLeb(bytes, globals.start).next + 2
  const initial = constEndingAt(bytes, readSleb(bytes, globalConst + 1).next)
  if (initial?.at !== globalConst || initial.value !== top) return undefined

  // The main thread's stack record: `[a + 4] = size; [a] = top`, stored once by the start-up code (size first).
  const topImmediate = sleb(top)
  const topStores = occurrences(bytes, [I32_CONST, ...topImmediate, ...I32_STORE], code.start, code.end)
  if (topStores.length !== 1) return undefined
  const topConst = constEndingAt(bytes, topStores[0]! + 1 + topImmediate.length)
  const topAddress = constEndingAt(bytes, topStores[0]!)
  if (!topConst || !topAddress || !I32_STORE.every((b, k) => bytes[topAddress.at - 3 + k] === b)) return undefined
  const sizeConst = constEndingAt(bytes, topAddress.at - 3)
  const sizeAddress = sizeConst && constEndingAt(bytes, sizeConst.at)
  if (!sizeConst || sizeAddress?.value !== topAddress.value + 4) return undefined
  const size = sizeConst.value
  const bottom = top - size
  if (!(stackBytes < size && bottom > 0 && bottom % 16 === 0 && stackBytes % 16 === 0)) return undefined
  const newTop = bottom + stackBytes

  // The heap's initial break: a word holding `top` in a data segment (trailing zero bytes may be left out of it).
  const word = littleEndian(top)
  const significant = word.slice(0, 4 - [...word].reverse().findIndex((b) => b !== 0))
  const breaks = (dataSegments(bytes, data.start) ?? []).flatMap(({ address, from, to }) =>
    occurrences(bytes, significant, from, to)
      .filter((at) => (address + at - from) % 4 === 0 && word.every((b, k) => (at + k < to ? bytes[at + k] : 0) === b))
      .map((at) => ({ at, room: to - at })),
  )
  const newWord = littleEndian(newTop)
  if (breaks.length !== 1 || newWord.slice(breaks[0]!.room).some((b) => b !== 0)) return undefined

  const newInitial = slebOfLength(newTop, initial.length)
  const newTopConst = slebOfLength(newTop, topConst.length)
  const newSize = slebOfLength(stackBytes, sizeConst.length)
  if (!newInitial || !newTopConst || !newSize) return undefined
  const patched = new Uint8Array(bytes)
  patched.set(newInitial, initial.at + 1)
  patched.set(newTopConst, topConst.at + 1)
  patched.set(newSize, sizeConst.at + 1)
  patched.set(newWord.slice(0, Math.min(4, breaks[0]!.room)), breaks[0]!.at)
  return { bytes: patched, stackTop: newTop }
}
