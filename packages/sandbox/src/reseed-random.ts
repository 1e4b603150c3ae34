/**
 * `Math.random`'s state in instances restored from an image (see `instance-image.ts`). QuickJS seeds it when it
 * creates a context, so the image would otherwise share it: every restored context gets a seed of its own from
 * `crypto.getRandomValues`, written at the state's offset in the context structure (found when the image is taken).
 */
import { webcrypto } from 'node:crypto'
import type { InstanceImage } from './instance-image.js'
import type { WasmMemory } from './wasm.js'

/** Pure; one step of xorshift64*'s state, as QuickJS's `Math.random` takes it. */
export function xorshiftStep(x: bigint): bigint {
  const mask = (1n << 64n) - 1n
  x ^= x >> 12n
  x = (x ^ (x << 25n)) & mask
  x ^= x >> 27n
  return x
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
