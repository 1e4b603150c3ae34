/** What `pnpm bench` runs: jobs per mode, keyed, repeated and interleaved by the orchestrator. */
import type { Job } from './jobs.js'
import { postgresJobs } from './postgres/plan.js'

/** Command-line options. */
export interface BenchOptions {
  quick: boolean
  /** Repetitions of every timed job (the median is reported). */
  runs: number
  /** Only these sections (all when empty). */
  only: string[]
  /** Where the JSON goes. */
  out: string
  /** Include the PostgreSQL section (a hook, issue 7). */
  postgres: boolean
}

/** Sizes of one mode. */
export interface Sizes {
  pipelineEvents: number
  bareSamples: number
  checkpointSamples: number
  sandboxSamples: number
  historyEvents: number
  bigHistory: number
  workflowEvents: number
  latencySamples: number
  recoverySessions: number
  /**
   * Events of the untimed session before the warm pipeline's measured one. The JIT keeps compiling for a few hundred
   * events: after 40, V8's helper threads (mostly TurboFan) still used 2.2–2.7 ms of CPU per event, after 300
   * 1.4–1.5 ms and after 1,000 1.1 ms (RESULTS.md, the runs of 2026-11-29 19:40–21:00).
   */
  warmUpEvents: number
}

/** `--quick` (CI-style, under two minutes) and the full run. */
export function sizes(quick: boolean): Sizes {
  return quick
    ? { pipelineEvents: 300, bareSamples: 60, checkpointSamples: 30, sandboxSamples: 12, historyEvents: 60, bigHistory: 1_000_000, workflowEvents: 50, latencySamples: 6, recoverySessions: 50, warmUpEvents: 300 }
    : { pipelineEvents: 1000, bareSamples: 200, checkpointSamples: 400, sandboxSamples: 300, historyEvents: 500, bigHistory: 1_000_000, workflowEvents: 1000, latencySamples: 100, recoverySessions: 1000, warmUpEvents: 1000 }
}

/** A timed job with its key in the results. */
export interface PlannedJob {
  key: string
  section: string
  job: Job
  /** Runs in a process of its own even in a --quick round (jobs with process-wide state: DBOS, worker processes). */
  ownProcess?: boolean
}

/** Paths and ids of the templates (filled in before the timed jobs). */
export interface Templates {
  history1k: { file: string; workflowId: string }
  history1m: { file: string; workflowId: string }
  crashed: { file: string }
  pending1: { file: string }
  pending100: { file: string }
}

/** What the timed jobs of a round are made of: the mode's sizes, the templates, the options. */
export interface TimedJobsInput {
  sizes: Sizes
  templates: Templates
  /** The engine's commits per event (profile run). */
  commits: number
  options: BenchOptions
}

/** The timed jobs of one round, in the order they run. */
export function timedJobs({ sizes: s, templates: t, commits, options }: TimedJobsInput): PlannedJob[] {
  const jobs: PlannedJob[] = [
    { key: 'pipeline.FULL', section: 'pipeline', job: { kind: 'pipeline', params: { synchronous: 'FULL', events: s.pipelineEvents } } },
    { key: 'floor.FULL', section: 'floor', job: { kind: 'floor', params: { synchronous: 'FULL', events: s.pipelineEvents, commits } } },
    { key: 'pipeline.recycle.FULL', section: 'pipeline', job: { kind: 'pipeline', params: { synchronous: 'FULL', events: s.pipelineEvents, recycle: true } } },
    { key: 'pipeline.warm.FULL', section: 'pipeline', job: { kind: 'pipeline', params: { synchronous: 'FULL', events: s.pipelineEvents, warmUp: s.warmUpEvents } } },
    { key: 'pipeline.NORMAL', section: 'pipeline', job: { kind: 'pipeline', params: { synchronous: 'NORMAL', events: s.pipelineEvents } } },
    { key: 'floor.NORMAL', section: 'floor', job: { kind: 'floor', params: { synchronous: 'NORMAL', events: s.pipelineEvents, commits } } },
    // The variant with a no-op mutation tool (two more commits per event) is left out of --quick.
    ...(options.quick ? [] : [{ key: 'pipeline.tool.FULL', section: 'pipeline', job: { kind: 'pipeline', params: { synchronous: 'FULL', events: s.pipelineEvents, useTool: true } } } satisfies PlannedJob]),
    { key: 'bare', section: 'floor', job: { kind: 'bare', params: { samples: s.bareSamples } } },
    { key: 'checkpoint.FULL', section: 'phases', job: { kind: 'checkpoint', params: { synchronous: 'FULL', samples: s.checkpointSamples } } },
    { key: 'checkpoint.OFF', section: 'phases', job: { kind: 'checkpoint', params: { synchronous: 'OFF', samples: s.checkpointSamples } } },
    { key: 'sandbox', section: 'phases', job: { kind: 'sandbox', params: { samples: s.sandboxSamples, backToBack: !options.quick } } },
    { key: 'history.1k', section: 'scaling', job: { kind: 'history', params: { template: t.history1k.file, workflowId: t.history1k.workflowId, events: s.historyEvents } } },
    { key: 'history.1m', section: 'scaling', job: { kind: 'history', params: { template: t.history1m.file, workflowId: t.history1m.workflowId, events: s.historyEvents } } },
    { key: 'workflows.1', section: 'scaling', job: { kind: 'workflows', params: { template: t.pending1.file, workflows: 1, events: s.workflowEvents } } },
    { key: 'workflows.100', section: 'scaling', job: { kind: 'workflows', params: { template: t.pending100.file, workflows: 100, events: s.workflowEvents } } },
    { key: 'latency', section: 'latency', job: { kind: 'latency', params: { synchronous: 'FULL', samples: s.latencySamples, gapMs: 20 } } },
    { key: 'recovery', section: 'recovery', job: { kind: 'recovery', params: { template: t.crashed.file, sessions: s.recoverySessions, synchronous: 'FULL' } } },
  ]
  if (options.postgres) jobs.push(...postgresJobs(options.quick, process.env.DATABASE_URL))
  return jobs.filter((j) => options.only.length === 0 || options.only.includes(j.section))
}

/** Parses `--quick`, `--runs N`, `--only a,b`, `--out file`, `--postgres`. */
export function parseArgs(argv: readonly string[], defaultOut: string): BenchOptions {
  const options: BenchOptions = { quick: false, runs: 0, only: [], out: defaultOut, postgres: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      return v
    }
    if (a === '--quick') options.quick = true
    else if (a === '--postgres') options.postgres = true
    else if (a.startsWith('--runs')) options.runs = Number(value())
    else if (a.startsWith('--only')) options.only = value().split(',').filter(Boolean)
    else if (a.startsWith('--out')) options.out = value()
    else if (a === '--') continue
    else throw new Error(`unknown option ${a} (use --quick, --runs N, --only sections, --out file, --postgres)`)
  }
  if (options.runs === 0) options.runs = options.quick ? 3 : 5
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new Error('--runs must be a positive integer')
  return options
}
