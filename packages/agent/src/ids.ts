import { randomFillSync } from 'node:crypto'

/** Kinds of ids the engine generates. */
export type IdKind = 'workflow' | 'script' | 'session' | 'run' | 'mutation' | 'event' | 'topic'

/** Generates opaque, unique ids. Injectable so tests get readable, deterministic ids. */
export type IdGenerator = (kind: IdKind) => string

const PREFIX: Record<IdKind, string> = {
  workflow: 'wf',
  script: 'scr',
  session: 'ses',
  run: 'run',
  mutation: 'mut',
  event: 'evt',
  topic: 'top',
}

/** Random bytes drawn from the system's generator 64 ids at a time (one call per id showed up in profiles). */
const entropy = Buffer.alloc(8 * 64)
let entropyUsed = entropy.length

/** 64 random bits as 16 hex digits, never handed out twice. */
function randomHex(): string {
  if (entropyUsed === entropy.length) {
    randomFillSync(entropy)
    entropyUsed = 0
  }
  const hex = entropy.toString('hex', entropyUsed, entropyUsed + 8)
  entropyUsed += 8
  return hex
}

/** Default ids: a kind prefix, the time in base 36 (so ids sort roughly by creation) and 64 random bits. */
export const defaultIds: IdGenerator = (kind) => `${PREFIX[kind]}_${Date.now().toString(36)}${randomHex()}`

/** Sequential ids (`run_1`, `run_2`, ...): deterministic, for tests. */
export function sequentialIds(): IdGenerator {
  const counters = new Map<IdKind, number>()
  return (kind) => {
    const n = (counters.get(kind) ?? 0) + 1
    counters.set(kind, n)
    return `${PREFIX[kind]}_${n}`
  }
}
