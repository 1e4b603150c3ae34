/**
 * The parts of the WebAssembly JavaScript API this package uses. The repository compiles without lib "dom" and
 * `@types/node` 20 does not declare them, so they are described structurally here.
 */

/** A `WebAssembly.Memory`. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(deltaPages: number): number
}

/** A compiled `WebAssembly.Module` (opaque). */
export interface WasmModule {
  readonly __wasmModule?: never
}

/** A `WebAssembly.Instance`. */
export interface WasmInstance {
  readonly exports: Record<string, unknown>
}

/** Import object of an instantiation: module name → import name → value. */
export type WasmImports = Record<string, Record<string, unknown>>

interface WasmApi {
  Memory: { new (descriptor: { initial: number; maximum?: number }): WasmMemory; prototype: WasmMemory }
  Instance: new (module: WasmModule, imports: WasmImports) => WasmInstance
  compile(bytes: Uint8Array): Promise<WasmModule>
}

/** The host's `WebAssembly` global, typed with the members above. */
export const Wasm: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

/** Bytes in a WebAssembly memory page. */
export const WASM_PAGE = 64 * 1024
