/**
 * One process of a crash-campaign trial: opens the trial's SQLite file, deploys what is missing, recovers what the
 * previous (killed) process left, and drives the scenario to its end — unless its kill plan fires first, in which
 * case it SIGKILLs itself right at a crash point, as a machine crash would stop it. It speaks to the campaign with
 * one JSON line per message on stdout (written synchronously, so a line written before the kill is never lost).
 *
 * Deliberately light: no vitest, one engine, one database handle.
 */
import { writeSync } from 'node:fs'
import { join } from 'node:path'
import { type CrashSite, createEngine } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { ManualClock } from '../kit/manual-clock.js'
import { hash32, prng } from './prng.js'
import { type ScenarioSize, scenarioScript, scenarioTools, workflowIds } from './scenario.js'
import { driveScenario } from './session-driver.js'
import { driveWithWorker } from './worker-driver.js'

/** What the campaign tells a child (JSON in argv[2]). */
export interface ChildPlan {
  /** The trial's directory: `ledgerflow.db` and the effect logs. */
  dir: string
  /** The trial's seed. */
  seed: number
  /** The number of this process in the trial (0 for the first): ids and clock start depend on it. */
  generation: number
  size: ScenarioSize
  /** Die at this crash-point hit of this process (1-based). */
  killAtHit?: number
  /** Die at the first hit of this crash point (and phase). */
  target?: { point: string; phase?: string }
  /** Who runs the scenario: one session at a time, deterministically (default), or the engine's Worker. */
  driver?: 'session' | 'worker'
  /** Tools never fail (discovery of the crash points every run passes). */
  faultFree?: boolean
}

/** A message from a child. */
export type ChildMessage =
  | { t: 'ready'; pid: number }
  | { t: 'recovered'; resumed: number; closed: number; finished: number }
  | { t: 'dying'; site: string; hit: number }
  | { t: 'done'; hits: number; sites: Record<string, number>; sessions: number; resolved: number; resumed: number }
  | { t: 'error'; message: string }

/** Where the scenario's clock starts for a generation: a day apart, so time never goes backwards across processes. */
export function clockStart(generation: number): number {
  return Date.UTC(2026, 0, 1) + generation * 86_400_000
}

/** The key of a crash site in coverage tables: `point` or `point|phase`. */
export function siteKey(site: { point: string; phase?: string }): string {
  return site.phase ? `${site.point}|${site.phase}` : site.point
}

function send(message: ChildMessage): void {
  writeSync(1, `${JSON.stringify(message)}\n`)
}

function die(key: string, hit: number): never {
  send({ t: 'dying', site: key, hit })
  process.kill(process.pid, 'SIGKILL')
  // SIGKILL to oneself is delivered at once; never run another line of JavaScript meanwhile.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000)
}

async function main(plan: ChildPlan): Promise<void> {
  let hits = 0
  const sites: Record<string, number> = {}
  const hook = (site: Pick<CrashSite, 'point' | 'phase'> | { point: string; phase?: string }) => {
    hits++
    const key = siteKey(site)
    sites[key] = (sites[key] ?? 0) + 1
    const targeted = plan.target && plan.target.point === site.point && (plan.target.phase === undefined || plan.target.phase === site.phase)
    if (targeted || hits === plan.killAtHit) die(key, hits)
  }
  const db = await openDatabase({ sqlite: join(plan.dir, 'ledgerflow.db') })
  const tools = scenarioTools({ dir: plan.dir, seed: plan.seed, db, faultFree: plan.faultFree, onEffect: () => hook({ point: 'tool:after-effect' }) })
  const clock = new ManualClock(clockStart(plan.generation))
  const counters = new Map<string, number>()
  const worker = plan.driver === 'worker'
  const engine = createEngine({
    db,
    tools: tools.tools,
    // The Worker sleeps on the clock: it runs on real time, with short backoffs.
    ...(worker ? {} : { clock }),
    ids: (kind) => {
      const n = (counters.get(kind) ?? 0) + 1
      counters.set(kind, n)
      return `${kind}-g${plan.generation}-${n}`
    },
    random: prng(hash32(plan.seed, 'jitter', plan.generation)),
    workerId: `campaign-g${plan.generation}`,
    // The session driver evaluates on the calling thread: a short-lived process would spend more on starting a
    // sandbox thread than on its work, and the thread never touches the database (the worker driver keeps it).
    sandboxThreads: worker ? 1 : 0,
    faults: hook,
    config: { retry: worker ? { maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 500 } : { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 30_000 } },
    worker: { concurrency: 3, forceRecoveryAtStart: true, idleCheckMs: 100, recoveryIntervalMs: 1000 },
  })
  send({ t: 'ready', pid: process.pid })
  for (const id of workflowIds(plan.size)) {
    if (!(await db.workflows.get(id))) await engine.deployWorkflow({ id, title: `Campaign ${id}`, code: scenarioScript(id, plan.size, worker ? '1s' : '1h') })
  }
  let stats
  if (worker) {
    // The Worker recovers at start (the only worker of this file: every open session is orphaned), then runs.
    engine.on('recovery:done', (e) => send({ t: 'recovered', resumed: e.sessions, closed: 0, finished: 0 }))
    stats = await driveWithWorker({ engine, db, size: plan.size, tools })
  } else {
    // The only worker of this SQLite file: every open session was orphaned by the killed process.
    const report = await engine.recover({ force: true })
    send({ t: 'recovered', resumed: report.resumed.length, closed: report.closed.length, finished: report.finished.length })
    stats = await driveScenario({ engine, db, clock, size: plan.size, tools })
  }
  await engine.close()
  await db.close()
  tools.close()
  send({ t: 'done', hits, sites, ...stats })
}

const plan = JSON.parse(process.argv[2] ?? '{}') as ChildPlan
main(plan).then(
  () => process.exit(0),
  (error: unknown) => {
    send({ t: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) })
    process.exit(2)
  },
)
