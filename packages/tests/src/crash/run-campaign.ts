/**
 * The crash campaign (issue 6): trials of the scenario, each on its own SQLite file, run by a chain of child
 * processes that are SIGKILLed — at seeded crash-point hits, at every named crash point (and phase), and at seeded
 * wall-clock moments — each followed by a fresh process that recovers and continues. After every kill the
 * invariants that hold at any instant are checked; at the end of a trial, the invariants at rest and exactly-once
 * accounting of every effect.
 *
 * Every choice is a function of (seed, trial, generation), so `--seed S --trial K` replays trial K exactly (kills by
 * wall clock are re-issued at the same delay, which lands in the same region of the run, not on the same
 * instruction).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CRASH_POINTS } from '@ledgerflow/agent'
import type { LedgerSnapshot } from '../kit/ledger-snapshot.js'
import { copyDatabaseImage } from '../kit/power-loss.js'
import type { ChildPlan } from './child.js'
import { type ChildCommand, bundleChild } from './child-bundle.js'
import { childScript, runChild } from './child-process.js'
import { hash32, unit } from './prng.js'
import { DEFAULT_SIZE, type ScenarioSize } from './scenario.js'
import { checkTrial } from './verify.js'

/** Options of {@link runCampaign}. */
export interface CampaignOptions {
  seed: number
  /** Number of trials (ignored with `only`). */
  trials: number
  /** Replay only this trial (0-based) of the seed. */
  only?: number
  /** Kills per trial before the last process may finish. Default 25. */
  killsPerTrial?: number
  /** Trials run at once. Default 2. */
  jobs?: number
  size?: ScenarioSize
  /** Share of random kills made by the clock instead of at a crash point. Default 0.2. */
  timedFraction?: number
  /** Longest delay of a timed kill after the child is ready, ms. Default 1500. */
  timedWindowMs?: number
  /**
   * Who runs each trial's scenario: `session` (one session at a time on a manual clock: replays exactly; default),
   * `worker` (the engine's Worker, several sessions at once, real time: replays the kill plan only), or `mixed`
   * (odd trials by the Worker).
   */
  driver?: 'session' | 'worker' | 'mixed'
  /** Keep every trial's files (failed trials are always kept). */
  keep?: boolean
  /** Where trials live. Default: a new temporary directory. */
  workDir?: string
  /** Progress lines. */
  log?: (line: string) => void
  /** Also log every process of every trial: its kill plan and where it died (for comparing replays). */
  verbose?: boolean
  /** Run the child bundled into one file, with flags for short-lived processes (see `child-bundle.ts`). Default true. */
  bundle?: boolean
}

/** One problem found. */
export interface CampaignViolation {
  trial: number
  message: string
}

/** What a campaign did and found. */
export interface CampaignSummary {
  seed: number
  trials: number
  kills: number
  /** Kills by how they were decided: at the k-th crash-point hit, at a targeted crash point, by the clock. */
  killsBy: { hit: number; target: number; timed: number }
  /** Fresh processes that recovered after a kill. */
  recoveries: number
  /** Sessions those recoveries took over and continued. */
  sessionsResumed: number
  /** Operator actions the scenario's operator made (resolutions of unknown outcomes, resumes after auth). */
  operator: { resolved: number; resumed: number }
  /** Kills per crash point (`point|phase`), and `timed`. */
  coverage: Record<string, number>
  /** Crash points (with phase) a clean run passes through, each targeted at least once over the campaign. */
  universe: string[]
  /**
   * The part of the universe every full campaign must kill at: every named point, and every (point, phase) a run
   * without scripted failures passes (those of failure paths come from seeded failures a trial may not meet; they
   * are targeted and reported).
   */
  required: string[]
  /** Crash points never killed at (a violation in a full campaign). */
  missing: string[]
  violations: CampaignViolation[]
  /** Directories of failed trials, kept for inspection. */
  kept: string[]
  durationMs: number
}

/** The engine's named crash points and the campaign's own (inside the mutation tool, right after the effect). */
const BASE_POINTS: readonly string[] = [...CRASH_POINTS, 'tool:after-effect']

/** Everything every trial needs to plan its kills. */
interface Setup {
  options: Required<Pick<CampaignOptions, 'seed' | 'killsPerTrial' | 'timedFraction' | 'timedWindowMs'>> & CampaignOptions
  size: ScenarioSize
  universe: string[]
  required: string[]
  /** Hits of a whole clean run: random kills fall in [1, hitRange]. */
  hitRange: number
  targetsPerTrial: number
  workDir: string
  child: ChildCommand
}

/** The kill plan of one process of a trial: a pure function of (seed, trial, generation). */
function planFor(setup: Setup, trial: number, generation: number, killsSoFar: number): { kill: Pick<ChildPlan, 'killAtHit' | 'target'>; timedMs?: number } {
  const { options, universe, hitRange, targetsPerTrial } = setup
  if (killsSoFar >= options.killsPerTrial) return { kill: {} }
  const r = (what: string) => unit(options.seed, trial, generation, what)
  if (generation < targetsPerTrial) {
    const key = universe[(trial * targetsPerTrial + generation) % universe.length]!
    const [point, phase] = key.split('|') as [string, string | undefined]
    // Killed at the target's first hit, or (when this process never reaches it) at a late random hit.
    return { kill: { target: { point, ...(phase ? { phase } : {}) }, killAtHit: 2 * hitRange + Math.floor(r('fallback') * 2 * hitRange) } }
  }
  const killAtHit = 1 + Math.floor(r('hit') * hitRange)
  if (r('timed?') < options.timedFraction) return { kill: { killAtHit: killAtHit + hitRange }, timedMs: Math.floor(r('delay') * options.timedWindowMs) }
  return { kill: { killAtHit } }
}

/** Accumulates everything a trial contributes to the summary. */
interface TrialResult {
  trial: number
  kills: number
  killsBy: CampaignSummary['killsBy']
  recoveries: number
  sessionsResumed: number
  operator: CampaignSummary['operator']
  coverage: Record<string, number>
  violations: string[]
  dir: string
}

async function runTrial(setup: Setup, trial: number): Promise<TrialResult> {
  const dir = join(setup.workDir, `trial-${trial}`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const result: TrialResult = {
    trial,
    kills: 0,
    killsBy: { hit: 0, target: 0, timed: 0 },
    recoveries: 0,
    sessionsResumed: 0,
    operator: { resolved: 0, resumed: 0 },
    coverage: {},
    violations: [],
    dir,
  }
  const seed = hash32(setup.options.seed, 'trial', trial)
  let previous: LedgerSnapshot | undefined
  for (let generation = 0; generation < setup.options.killsPerTrial + 10; generation++) {
    const { kill, timedMs } = planFor(setup, trial, generation, result.kills)
    const driver = setup.options.driver === 'worker' || (setup.options.driver === 'mixed' && trial % 2 === 1) ? 'worker' : 'session'
    const plan: ChildPlan = { dir, seed, generation, size: setup.size, driver, ...kill }
    const out = await runChild(setup.child, plan, timedMs)
    if (generation > 0) result.recoveries++
    const recovered = out.messages.find((m) => m.t === 'recovered')
    if (recovered?.t === 'recovered') result.sessionsResumed += recovered.resumed
    const dying = out.messages.find((m) => m.t === 'dying')
    const done = out.messages.find((m) => m.t === 'done')
    const failed = out.messages.find((m) => m.t === 'error')
    if (failed?.t === 'error') {
      result.violations.push(`generation ${generation} failed: ${failed.message}`)
      return result
    }
    if (done?.t === 'done' && out.code === 0) {
      result.operator.resolved += done.resolved
      result.operator.resumed += done.resumed
      const check = await checkTrial(dir, setup.size, { final: true, previous })
      result.violations.push(...check.violations)
      return result
    }
    if (out.signal !== 'SIGKILL') {
      result.violations.push(`generation ${generation} exited with ${out.signal ?? out.code}: ${out.stderr.slice(0, 2000)}`)
      return result
    }
    result.kills++
    if (setup.options.verbose) {
      setup.options.log?.(`  trial ${trial} process ${generation}: plan ${JSON.stringify({ ...kill, ...(timedMs !== undefined ? { timedMs } : {}) })}, died ${dying?.t === 'dying' ? `at ${dying.site} (hit ${dying.hit})` : 'by the clock'}`)
    }
    if (dying?.t === 'dying') {
      const targeted = kill.target && dying.site.startsWith(kill.target.point) && dying.hit !== kill.killAtHit
      result.killsBy[targeted ? 'target' : 'hit']++
      result.coverage[dying.site] = (result.coverage[dying.site] ?? 0) + 1
    } else {
      result.killsBy.timed++
      result.coverage.timed = (result.coverage.timed ?? 0) + 1
    }
    // Check a copy: opening the file itself would recover and checkpoint its WAL, and the next process must find
    // the files exactly as the kill left them.
    const image = join(setup.workDir, `check-${trial}.db`)
    copyDatabaseImage(join(dir, 'ledgerflow.db'), image)
    const check = await checkTrial(dir, setup.size, { final: false, previous, file: image })
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${image}${suffix}`, { force: true })
    previous = check.snapshot
    if (check.violations.length > 0) {
      result.violations.push(...check.violations.map((v) => `after kill ${result.kills} (generation ${generation}): ${v}`))
      return result
    }
  }
  result.violations.push(`the trial did not finish after ${setup.options.killsPerTrial + 10} processes`)
  return result
}

/** Runs a clean process (no kill) to learn the crash points a run passes through and how many hits it makes. */
async function discover(options: Setup['options'], size: ScenarioSize, workDir: string, child: ChildCommand, faultFree: boolean): Promise<{ sites: Record<string, number>; hits: number }> {
  const dir = join(workDir, faultFree ? 'discovery-fault-free' : 'discovery')
  mkdirSync(dir, { recursive: true })
  const out = await runChild(child, { dir, seed: hash32(options.seed, 'discovery'), generation: 0, size, faultFree }, undefined)
  const done = out.messages.find((m) => m.t === 'done')
  if (done?.t !== 'done') {
    const error = out.messages.find((m) => m.t === 'error')
    throw new Error(`the clean discovery run failed: ${error?.t === 'error' ? error.message : out.stderr || `exit ${out.signal ?? out.code}`}`)
  }
  rmSync(dir, { recursive: true, force: true })
  return { sites: done.sites, hits: done.hits }
}

/**
 * Runs a crash campaign and returns its summary (it never throws for what it finds: violations are data).
 *
 * ### Examples
 * ```ts
 * const summary = await runCampaign({ seed: 42, trials: 20 })
 * if (summary.violations.length > 0) process.exitCode = 1
 * ```
 */
export async function runCampaign(input: CampaignOptions): Promise<CampaignSummary> {
  const started = Date.now()
  const options = { killsPerTrial: 25, timedFraction: 0.2, timedWindowMs: 1500, ...input }
  const size = input.size ?? DEFAULT_SIZE
  const workDir = input.workDir ?? mkdtempSync(join(tmpdir(), 'ledgerflow-crash-'))
  mkdirSync(workDir, { recursive: true })
  const child = input.bundle === false ? { script: childScript(), execArgv: [] } : await bundleChild(childScript(), workDir)
  const log = input.log ?? (() => {})
  // A run without scripted failures passes the crash points every run passes (required); a run with them also
  // passes the failure paths (targeted, reported, but a given trial may never meet them).
  const [found, plain] = [await discover(options, size, workDir, child, false), await discover(options, size, workDir, child, true)]
  const structural = Object.keys(plain.sites).filter((k) => !BASE_POINTS.includes(k)).sort()
  // Bare points first: the first trials' targeted kills visit every named point (any phase), then every phase.
  const phased = [...new Set([...structural, ...Object.keys(found.sites).filter((k) => !BASE_POINTS.includes(k)).sort()])]
  const universe = [...BASE_POINTS, ...phased]
  const setup: Setup = {
    options,
    size,
    universe,
    required: [...BASE_POINTS, ...structural],
    hitRange: Math.max(5, Math.round((1.2 * found.hits) / options.killsPerTrial)),
    targetsPerTrial: Math.min(3, options.killsPerTrial),
    workDir,
    child,
  }
  log(`seed ${options.seed}: a clean run makes ${found.hits} crash-point hits over ${phased.length} crash points (with phase); random kills in hits 1..${setup.hitRange}`)
  const trials = input.only !== undefined ? [input.only] : Array.from({ length: input.trials }, (_, i) => i)
  const results: TrialResult[] = []
  let next = 0
  const lane = async () => {
    while (next < trials.length) {
      const trial = trials[next++]!
      const t0 = Date.now()
      const r = await runTrial(setup, trial)
      results.push(r)
      const total = results.reduce((n, x) => n + x.kills, 0)
      log(`trial ${trial}: ${r.kills} kills, ${r.recoveries} recoveries, ${r.violations.length} violations (${((Date.now() - t0) / 1000).toFixed(1)} s; ${results.length}/${trials.length} trials, ${total} kills so far)`)
      for (const v of r.violations.slice(0, 20)) log(`  trial ${trial}: ${v}`)
      if (r.violations.length === 0 && !input.keep) rmSync(r.dir, { recursive: true, force: true })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, input.jobs ?? 2) }, lane))
  const summary = summarize(setup, results, trials.length, Date.now() - started, input.only === undefined)
  // A temporary directory of our own, with nothing to inspect: remove it (the bundled child and its links too).
  if (input.workDir === undefined && summary.kept.length === 0 && !input.keep) rmSync(workDir, { recursive: true, force: true })
  return summary
}

function summarize(setup: Setup, results: TrialResult[], trials: number, durationMs: number, full: boolean): CampaignSummary {
  results.sort((a, b) => a.trial - b.trial)
  const coverage: Record<string, number> = {}
  for (const r of results) for (const [k, n] of Object.entries(r.coverage)) coverage[k] = (coverage[k] ?? 0) + n
  const killedPoints = new Set(Object.keys(coverage).map((k) => k.split('|')[0]))
  // A campaign with enough targeted kills must have killed at every named crash point, and, with more, at every
  // (point, phase) a clean run passes through. Smaller ones only report what they missed.
  const slots = trials * setup.targetsPerTrial
  const required = !full ? [] : slots >= setup.universe.length ? setup.required : slots >= BASE_POINTS.length ? BASE_POINTS : []
  const notKilled = (k: string) => (k.includes('|') ? !coverage[k] : !killedPoints.has(k))
  const missing = setup.universe.filter(notKilled)
  const violations: CampaignViolation[] = results.flatMap((r) => r.violations.map((message) => ({ trial: r.trial, message })))
  for (const k of required.filter(notKilled)) violations.push({ trial: -1, message: `crash point ${k} was never killed at` })
  return {
    seed: setup.options.seed,
    trials,
    kills: results.reduce((n, r) => n + r.kills, 0),
    killsBy: {
      hit: results.reduce((n, r) => n + r.killsBy.hit, 0),
      target: results.reduce((n, r) => n + r.killsBy.target, 0),
      timed: results.reduce((n, r) => n + r.killsBy.timed, 0),
    },
    recoveries: results.reduce((n, r) => n + r.recoveries, 0),
    sessionsResumed: results.reduce((n, r) => n + r.sessionsResumed, 0),
    operator: {
      resolved: results.reduce((n, r) => n + r.operator.resolved, 0),
      resumed: results.reduce((n, r) => n + r.operator.resumed, 0),
    },
    coverage,
    universe: setup.universe,
    required: setup.required,
    missing,
    violations,
    kept: results.filter((r) => r.violations.length > 0).map((r) => r.dir),
    durationMs,
  }
}
