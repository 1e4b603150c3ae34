/**
 * Deterministic randomness for the crash campaign: a small seeded generator and a hash of named parts. Every random
 * choice of a trial is a function of the campaign seed and the trial number, so any trial replays exactly.
 */

/** 32-bit FNV-1a of the parts joined with `/`. Pure. */
export function hash32(...parts: ReadonlyArray<string | number>): number {
  let h = 0x811c9dc5
  const text = parts.join('/')
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  // Final avalanche so that neighbouring inputs do not give neighbouring outputs.
  h ^= h >>> 16
  h = Math.imul(h, 0x7feb352d) >>> 0
  h ^= h >>> 15
  h = Math.imul(h, 0x846ca68b) >>> 0
  h ^= h >>> 16
  return h >>> 0
}

/** A number in [0, 1) derived from the parts: the same parts always give the same number. Pure. */
export function unit(...parts: ReadonlyArray<string | number>): number {
  return hash32(...parts) / 2 ** 32
}

/** A seeded generator of numbers in [0, 1) (a 32-bit add-and-mix sequence). */
export function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0
    z = (z ^ (z >>> 15)) >>> 0
    return z / 2 ** 32
  }
}

/** An integer in [min, max] from a generator. */
export function between(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1))
}
