/**
 * The PostgreSQL section of `pnpm bench --postgres` (issue 7): scale-out with 1, 2 and 4 worker processes (each
 * running one session at a time, so that one worker is bound by the tool's 20 ms waits and not by this machine's CPU;
 * the full run also measures 1 and 4 workers running 4 sessions each), and
 * ledgerflow consumer runs side by side with DBOS workflows, one at a time and 8 at a time, on the same server
 * (`DATABASE_URL`). Each job runs in a process of its own (DBOS registers its workflows process-wide; the statement
 * counter is process-wide), interleaved round by round with the other sections.
 */
import type { PlannedJob } from '../plan.js'

/** Sizes of the PostgreSQL jobs. */
export interface PostgresSizes {
  /** Scale-out: workflows, events per workflow, tool wait. */
  scaleWorkflows: number
  scaleEvents: number
  scaleDelayMs: number
  /** Also measure 1 and 4 workers running 4 sessions each (CPU-bound on this machine). */
  scaleSeveralSessions: boolean
  /** Peer comparison: timed units one at a time and 8 at a time, and warm-up units. */
  sequentialRuns: number
  concurrentRuns: number
  warmup: number
}

/** `--quick` and full sizes. */
export function postgresSizes(quick: boolean): PostgresSizes {
  return quick
    ? { scaleWorkflows: 16, scaleEvents: 12, scaleDelayMs: 20, scaleSeveralSessions: false, sequentialRuns: 150, concurrentRuns: 400, warmup: 40 }
    : { scaleWorkflows: 32, scaleEvents: 25, scaleDelayMs: 20, scaleSeveralSessions: true, sequentialRuns: 400, concurrentRuns: 800, warmup: 40 }
}

/** The PostgreSQL jobs of one round. Throws when `url` is missing, before anything runs. */
export function postgresJobs(quick: boolean, url: string | undefined): PlannedJob[] {
  if (!url) throw new Error('pnpm bench --postgres needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)')
  const s = postgresSizes(quick)
  // One session per worker: each evaluates on its own thread (no sandbox thread); the processes are the parallelism.
  // Four sessions per worker: the engine's default sandbox thread, which does better with several sessions at once.
  const scale = (workers: number, concurrency = 1): PlannedJob => ({
    key: concurrency === 1 ? `postgres.scale.${workers}` : `postgres.scale.c${concurrency}.${workers}`,
    section: 'postgres',
    ownProcess: true,
    job: {
      kind: 'postgres',
      params: {
        case: 'scale',
        url,
        workers,
        workflows: s.scaleWorkflows,
        events: s.scaleEvents,
        concurrency,
        delayMs: s.scaleDelayMs,
        runner: concurrency === 1 ? 'calling' : 'thread',
      },
    },
  })
  const ledgerflow = (concurrency: number, runs: number): PlannedJob => ({
    key: `postgres.ledgerflow.c${concurrency}`,
    section: 'postgres',
    ownProcess: true,
    // One session at a time evaluates on the calling thread, as a worker process with one session at a time would.
    job: { kind: 'postgres', params: { case: 'consumer-runs', url, concurrency, runs, warmup: s.warmup, runner: concurrency === 1 ? 'calling' : 'thread' } },
  })
  const dbos = (concurrency: number, workflows: number): PlannedJob => ({
    key: `postgres.dbos.c${concurrency}`,
    section: 'postgres',
    ownProcess: true,
    job: { kind: 'postgres', params: { case: 'dbos', url, concurrency, workflows, warmup: s.warmup } },
  })
  return [
    scale(1),
    scale(2),
    scale(4),
    ...(s.scaleSeveralSessions ? [scale(1, 4), scale(4, 4)] : []),
    ledgerflow(1, s.sequentialRuns),
    dbos(1, s.sequentialRuns),
    ledgerflow(8, s.concurrentRuns),
    dbos(8, s.concurrentRuns),
  ]
}
