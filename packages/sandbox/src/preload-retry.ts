/**
 * When a pool tries again to preload a script whose preload could not be kept (see `InstancePool.preloadSoon`). Pure.
 */

/** Most evaluations of a refused script that end before its preload is tried again (see {@link refusedAgain}). */
export const PRELOAD_RETRY_MAX_SKIPS = 1024

/** A script whose preload could not be kept: its preload key, its refusals in a row, and evaluations still to skip. */
export interface PreloadRefusal {
  key: string
  times: number
  skips: number
}

/**
 * Pure; the refusal after one more preload of `key` could not be kept. A top level that calls a tool is refused every
 * time, while one cut at the CPU cap may only have met a busy machine: after the n-th refusal in a row, the next
 * 2^n evaluations of that script (at most {@link PRELOAD_RETRY_MAX_SKIPS}) end without a preload, then it is tried
 * again, so a moment of load does not turn preloading off for good and a script that always calls a tool costs a
 * refused load ever more rarely.
 */
export function refusedAgain(previous: PreloadRefusal | undefined, key: string): PreloadRefusal {
  const times = previous?.key === key ? previous.times + 1 : 1
  return { key, times, skips: Math.min(2 ** times, PRELOAD_RETRY_MAX_SKIPS) }
}

/**
 * Pure; when an evaluation of `key` ended and would be followed by a preload: the refusal with one skip fewer if
 * that preload must wait (it is not tried), or `undefined` if it may be tried now.
 */
export function preloadWaits(refusal: PreloadRefusal | undefined, key: string): PreloadRefusal | undefined {
  if (refusal === undefined || refusal.key !== key || refusal.skips === 0) return undefined
  return { ...refusal, skips: refusal.skips - 1 }
}
