/**
 * How an evaluation's end state becomes its {@link EvaluationOutcome}.
 */
import { limitError } from './errors.js'
import type { EvaluationOutcome, EvaluationStats, JsonValue, SandboxErrorData, SandboxLimits } from './types.js'

/**
 * What the guest reported through `hostSettle`: `v` JSON text, `u` undefined, `n` not JSON (reason), `h` handler not
 * found (message), `e` a thrown value (described as JSON).
 */
export interface Settlement {
  kind: string
  text: string
}

/** Pure; the error of an evaluation that hit the hard memory cap. */
export function memoryError(limits: SandboxLimits): SandboxErrorData {
  return limitError('sandbox_memory', `The script used more than its ${limits.memoryLimitBytes} bytes of memory`)
}

/** The end state of an evaluation. */
export interface EndState {
  failure: SandboxErrorData | undefined
  settled: Settlement | undefined
  /** The instance hit its memory cap at some point: that ends the evaluation even if the guest carried on. */
  memoryExhausted: boolean
  limits: SandboxLimits
  stats: EvaluationStats
  /** Classifies a thrown value described by the guest. */
  classify(text: string): SandboxErrorData
}

/** Pure apart from `JSON.parse`; the outcome of an evaluation from its end state. */
export function buildOutcome(end: EndState): EvaluationOutcome {
  const { stats } = end
  const error = end.memoryExhausted ? memoryError(end.limits) : end.failure
  if (error !== undefined) return { ok: false, error, stats }
  const { kind, text } = end.settled ?? { kind: 'x', text: '' }
  switch (kind) {
    case 'v':
      return { ok: true, value: JSON.parse(text) as JsonValue, stats }
    case 'u':
      return { ok: true, value: undefined, stats }
    case 'n':
      return { ok: false, error: limitError('result_not_json', `The handler result is not JSON: ${text}`), stats }
    case 'h':
      return { ok: false, error: limitError('handler_not_found', text), stats }
    case 'e':
      return { ok: false, error: end.classify(text), stats }
    default:
      return { ok: false, error: limitError('sandbox_internal', 'The evaluation ended without an outcome'), stats }
  }
}
