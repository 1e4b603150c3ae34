import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { inspectWasm, lowerInitialMemory } from './wasm-layout.js'

const binary = new Uint8Array(readFileSync(createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm')))

describe('lowerInitialMemory', () => {
  it('declares the stack top plus a little heap instead of 16 MiB, in the same number of bytes', () => {
    const before = inspectWasm(binary)!
    expect(before.minPages).toBe(256)
    const { bytes, initialPages } = lowerInitialMemory(binary)
    expect(bytes.length).toBe(binary.length)
    expect(initialPages * 65536).toBeGreaterThan(before.stackTop!)
    expect(initialPages).toBeLessThan(128)
    expect(inspectWasm(bytes)).toEqual({ ...before, minPages: initialPages })
    // Only the two bytes of the minimum changed.
    expect([...bytes].filter((b, i) => b !== binary[i])).toHaveLength(2)
  })

  it('keeps a binary whose layout it does not recognize', () => {
    const other = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])
    expect(lowerInitialMemory(other)).toEqual({ bytes: other, initialPages: 256 })
    expect(lowerInitialMemory(new Uint8Array([1, 2, 3]))).toEqual({ bytes: new Uint8Array([1, 2, 3]), initialPages: 256 })
  })
})
