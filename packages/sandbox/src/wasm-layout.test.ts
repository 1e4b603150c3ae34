import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { inspectWasm, lowerInitialMemory, readLeb } from './wasm-layout.js'

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

describe('readLeb', () => {
  it('reads unsigned and signed LEB128, padded or not, and says where the next byte is', () => {
    expect(readLeb(new Uint8Array([0xe0, 0xc0, 0xc5, 0x02]), 0)).toEqual({ value: 5333088, next: 4 })
    expect(readLeb(new Uint8Array([0xe0, 0xc0, 0xc5, 0x02]), 0, true)).toEqual({ value: 5333088, next: 4 })
    expect(readLeb(new Uint8Array([9, 0x7f]), 1)).toEqual({ value: 127, next: 2 })
    expect(readLeb(new Uint8Array([9, 0x7f]), 1, true)).toEqual({ value: -1, next: 2 })
    expect(readLeb(new Uint8Array([0x80, 0x7f]), 0, true)).toEqual({ value: -128, next: 2 })
    expect(readLeb(new Uint8Array([0x85, 0x80, 0x00]), 0, true)).toEqual({ value: 5, next: 3 })
  })

  it('refuses a LEB128 that runs off the end or past 35 bits', () => {
    expect(() => readLeb(new Uint8Array([0x80, 0x80]), 0)).toThrow(/bad LEB128/)
    expect(() => readLeb(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80]), 0)).toThrow(/bad LEB128/)
  })
})
