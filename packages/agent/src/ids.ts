import { randomBytes } from 'node:crypto'

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

/** Default ids: a kind prefix, the time in base 36 (so ids sort roughly by creation) and 64 random bits. */
export const defaultIds: IdGenerator = (kind) =>
  `${PREFIX[kind]}_${Date.now().toString(36)}${randomBytes(8).toString('hex')}`

/** Sequential ids (`run_1`, `run_2`, ...): deterministic, for tests. */
export function sequentialIds(): IdGenerator {
  const counters = new Map<IdKind, number>()
  return (kind) => {
    const n = (counters.get(kind) ?? 0) + 1
    counters.set(kind, n)
    return `${PREFIX[kind]}_${n}`
  }
}
