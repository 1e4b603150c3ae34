/** Small statistics helpers. Pure. */

/** The value at quantile `q` (0..1) of `values` (nearest rank); NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))]!
}

/** The median of `values` (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The arithmetic mean; NaN when empty. */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length
}

/** Rounds to `digits` significant decimals for reports. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** Median, p50/p90/p99 of a sample of durations. */
export interface Distribution {
  n: number
  mean: number
  p50: number
  p90: number
  p99: number
}

/** Summarizes durations. */
export function distribution(values: readonly number[]): Distribution {
  return {
    n: values.length,
    mean: round(mean(values)),
    p50: round(quantile(values, 0.5)),
    p90: round(quantile(values, 0.9)),
    p99: round(quantile(values, 0.99)),
  }
}

/** Times `fn` `samples` times after `warmup` untimed calls; returns the durations in ms. */
export async function sample(fn: () => Promise<unknown> | unknown, samples: number, warmup = 0): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < warmup + samples; i++) {
    const start = performance.now()
    await fn()
    const elapsed = performance.now() - start
    if (i >= warmup) times.push(elapsed)
  }
  return times
}
