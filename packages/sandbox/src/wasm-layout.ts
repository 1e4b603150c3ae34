/**
 * Reads the QuickJS build's memory layout from its WebAssembly binary and lowers the initial memory it declares.
 *
 * The build declares 256 initial pages (16 MiB), but its static data and shadow stack end near 5 MiB (the initial
 * stack pointer) and the heap grows on demand. Every instance allocates its initial pages as a fresh
 * `WebAssembly.Memory`, and V8 counts them as external memory: 16 MiB per instance makes it collect garbage about
 * once per instance. Declaring the stack top plus a little heap (about 6 MiB; 2 MiB once `shadow-stack.ts` has
 * shrunk the stack) keeps every byte the guest can use (the maximum is unchanged) and triggers those collections
 * about a third as often.
 */
import { WASM_PAGE } from './wasm.js'

/** Heap pages beyond the stack top: room for a runtime, a context and the prelude without growing. */
const HEAP_PAGES = 14

/** What {@link lowerInitialMemory} found and did. */
export interface WasmLayout {
  /** The binary to compile (patched, or the original when the layout was not as expected). */
  bytes: Uint8Array
  /** Initial pages every instance's memory must have. */
  initialPages: number
}

/** Pure; a LEB128 read at `at`, unsigned or (`signed`, as `i32.const` holds it) signed. Throws on a malformed one. @internal */
export function readLeb(bytes: Uint8Array, at: number, signed = false): { value: number; next: number } {
  let value = 0
  let shift = 0
  let i = at
  for (;;) {
    const byte = bytes[i++]
    if (byte === undefined || shift > 28) throw new Error('bad LEB128')
    value += (byte & 0x7f) * 2 ** shift
    shift += 7
    if (byte < 0x80) return { value: signed && byte & 0x40 ? value - 2 ** shift : value, next: i }
  }
}

/** One section of a binary: its id and where its payload is. */
export interface WasmSection {
  id: number
  start: number
  end: number
}

/** Pure; the sections of a WebAssembly binary, or `undefined` when it is not one. @internal */
export function sectionsOf(bytes: Uint8Array): WasmSection[] | undefined {
  if (bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) return undefined
  const sections: WasmSection[] = []
  for (let at = 8; at < bytes.length; ) {
    const size = readLeb(bytes, at + 1)
    sections.push({ id: bytes[at]!, start: size.next, end: size.next + size.value })
    at = size.next + size.value
  }
  return sections
}

/** Pure; finds the imported memory's minimum (offset and encoded length) and the first global's i32 initializer. */
export function inspectWasm(bytes: Uint8Array): { minAt: number; minLength: number; minPages: number; stackTop: number | undefined } | undefined {
  let memory: { minAt: number; minLength: number; minPages: number } | undefined
  let stackTop: number | undefined
  for (const { id, start } of sectionsOf(bytes) ?? []) {
    let p = start
    if (id === 2) {
      const count = readLeb(bytes, p)
      p = count.next
      for (let n = 0; n < count.value; n++) {
        for (let s = 0; s < 2; s++) {
          const len = readLeb(bytes, p)
          p = len.next + len.value
        }
        const kind = bytes[p++]
        if (kind === 0) p = readLeb(bytes, p).next
        else if (kind === 1) {
          p++ // reftype
          const flags = bytes[p++]!
          p = readLeb(bytes, p).next
          if (flags & 1) p = readLeb(bytes, p).next
        } else if (kind === 2) {
          const flags = bytes[p++]!
          const min = readLeb(bytes, p)
          memory = { minAt: p, minLength: min.next - p, minPages: min.value }
          p = min.next
          if (flags & 1) p = readLeb(bytes, p).next
        } else if (kind === 3) p += 2
        else return undefined
      }
    } else if (id === 6) {
      const count = readLeb(bytes, p)
      p = count.next
      // The first global of an emscripten build is the mutable i32 stack pointer: `i32.const <stack top>`.
      if (count.value > 0 && bytes[p] === 0x7f && bytes[p + 1] === 1 && bytes[p + 2] === 0x41) stackTop = readLeb(bytes, p + 3).value
    }
  }
  return memory === undefined ? undefined : { ...memory, stackTop }
}

/**
 * Pure; a copy of `bytes` whose imported memory declares just enough initial pages for the static data, the shadow
 * stack and a little heap, encoded in the same number of bytes (LEB128 may be padded), or the original binary when
 * the layout is not the expected one.
 */
export function lowerInitialMemory(bytes: Uint8Array): WasmLayout {
  const found = inspectWasm(bytes)
  if (found === undefined || found.stackTop === undefined || found.minLength !== 2) return { bytes, initialPages: found?.minPages ?? 256 }
  const pages = Math.ceil(found.stackTop / WASM_PAGE) + HEAP_PAGES
  if (pages >= found.minPages || pages >= 2 ** 14) return { bytes, initialPages: found.minPages }
  const patched = new Uint8Array(bytes)
  patched[found.minAt] = 0x80 | (pages & 0x7f)
  patched[found.minAt + 1] = pages >> 7
  return { bytes: patched, initialPages: pages }
}
