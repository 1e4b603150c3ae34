/**
 * Default limits of one sandbox evaluation, and how partial overrides are merged and checked.
 */
import { MAX_GUEST_STACK_BYTES } from './shadow-stack.js'
import type { SandboxLimits } from './types.js'

const KiB = 1024
const MiB = 1024 * KiB

/**
 * Default limits of one evaluation.
 *
 * `maxStackBytes` defaults to 256 KiB, not 1 MiB: QuickJS's stack check must fire before V8's own native stack
 * overflows (WASM frames run on the host thread's stack, about 2.5 native bytes per guest stack byte). Measured on
 * Node 20 with its default ~984 KB stack, limits of 384 KiB and more let V8 overflow first, which leaves the
 * instance unusable (it is then discarded and the evaluation still fails with `sandbox_stack_overflow`).
 */
export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  memoryLimitBytes: 64 * MiB,
  maxStackBytes: 256 * KiB,
  timeoutMs: 2000,
  wallTimeoutMs: 60_000,
  maxHostCalls: 1000,
  maxArgumentBytes: 1 * MiB,
  maxResultBytes: 1 * MiB,
  maxConsoleMessageBytes: 8 * KiB,
})

/** Inclusive ranges accepted for each limit. */
const RANGES: Readonly<Record<keyof SandboxLimits, readonly [number, number]>> = {
  memoryLimitBytes: [1 * MiB, 2000 * MiB],
  // Instances have a 1 MiB shadow stack (see `shadow-stack.ts`); a larger QuickJS limit would let the guest run off
  // its end. Deeper guest stacks overflow V8's native stack first anyway: from about 384 KiB on the main thread.
  maxStackBytes: [16 * KiB, MAX_GUEST_STACK_BYTES],
  timeoutMs: [1, 24 * 3600_000],
  wallTimeoutMs: [1, 24 * 3600_000],
  maxHostCalls: [0, 1_000_000],
  maxArgumentBytes: [16, 512 * MiB],
  maxResultBytes: [16, 512 * MiB],
  maxConsoleMessageBytes: [16, 16 * MiB],
}

/**
 * Merges partial limit overrides over {@link DEFAULT_LIMITS}, later layers winning; `undefined` fields are skipped.
 * Pure; throws a `RangeError` naming the field when a value is not an integer inside its accepted range.
 *
 * ### Examples
 * ```ts
 * resolveLimits({ timeoutMs: 500 }, { memoryLimitBytes: 32 * 1024 * 1024 })
 * ```
 */
export function resolveLimits(...layers: ReadonlyArray<Partial<SandboxLimits> | undefined>): SandboxLimits {
  const limits: SandboxLimits = { ...DEFAULT_LIMITS }
  for (const layer of layers) {
    if (layer === undefined) continue
    for (const key of Object.keys(RANGES) as Array<keyof SandboxLimits>) {
      const value = layer[key]
      if (value === undefined) continue
      const [min, max] = RANGES[key]
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw new RangeError(`Sandbox limit ${key} must be an integer between ${min} and ${max}, got ${String(value)}`)
      }
      limits[key] = value
    }
  }
  return limits
}
