/**
 * `pnpm bench [--quick] [--runs N] [--only sections] [--out file] [--postgres]`: builds first (turbo), then runs every
 * job in a fresh process on a fresh database file, repeated and interleaved round by round, and prints one summary
 * table (medians, each with a baseline measured in the same run and the ratio) and writes the JSON.
 *
 * Sections: pipeline, floor, phases, scaling, latency, recovery, postgres (a hook for issue 7).
 */
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Job } from './jobs.js'
import { machineInfo } from './lib/machine.js'
import { type TempDir, tempDir } from './lib/temp.js'
import { type BenchOptions, type PlannedJob, type Sizes, type Templates, parseArgs, sizes, timedJobs } from './plan.js'
import { type RunResults, figures, table } from './report.js'

const here = dirname(fileURLToPath(import.meta.url))
const CHILD = join(here, 'child.js')

/** Runs jobs, in order, in one child process and returns their results. */
function runChild(jobs: Job[], timeoutMs = 900_000): Promise<Array<Record<string, number | string>>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', CHILD, JSON.stringify(jobs)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const what = jobs.map((j) => j.kind).join(', ')
    child.on('close', (code) => {
      clearTimeout(timer)
      const last = out.trim().split('\n').at(-1) ?? ''
      try {
        const parsed = JSON.parse(last) as { results?: Array<Record<string, number | string>>; error?: string }
        if (parsed.results && code === 0) return resolve(parsed.results)
        reject(new Error(`${what} failed: ${parsed.error ?? `exit ${code}`}`))
      } catch {
        reject(new Error(`${what} failed (exit ${code}): ${out.slice(-2000)}`))
      }
    })
  })
}

const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2), join(here, '..', 'results', 'latest.json'))
  const s = sizes(options.quick)
  const started = Date.now()
  const machine = machineInfo()
  log(`${options.quick ? 'quick' : 'full'} run, ${options.runs} runs per figure; ${machine.cpus} x ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAverage.join(' ')}`)
  const tmp = tempDir('ledgerflow-bench-templates-')
  try {
    const { breakdown, commits, templates } = await runSetup(options, s, tmp)
    const results = await runRounds(timedJobs({ sizes: s, templates, commits, options }), options)
    const rows = figures(results)
    const summary = table(rows, breakdown, options.runs)
    process.stdout.write(`\n${summary}\n\n`)
    const report = {
      bench: 'ledgerflow',
      mode: options.quick ? 'quick' : 'full',
      runs: options.runs,
      startedAt: new Date(started).toISOString(),
      durationSec: Math.round((Date.now() - started) / 1000),
      machine,
      pragmas: { journal_mode: 'WAL', synchronous: ['FULL', 'NORMAL'], busy_timeout: 5000, foreign_keys: 'ON' },
      sizes: s,
      commitsPerEvent: commits,
      breakdown,
      figures: rows,
      results,
    }
    mkdirSync(dirname(options.out), { recursive: true })
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`)
    log(`done in ${report.durationSec} s; JSON written to ${options.out}`)
  } finally {
    tmp.remove()
  }
}

/** What the set-up leaves for the timed jobs: the profile's breakdown, the commits per event, the templates. */
interface Setup {
  breakdown: Record<string, number> | undefined
  commits: number
  templates: Templates
}

/**
 * Set-up in one process: the diagnostic run (commits per event, which the floor repeats, and the time breakdown),
 * then the template databases (in `tmp`).
 */
async function runSetup(options: BenchOptions, s: Sizes, tmp: TempDir): Promise<Setup> {
  const setup = setupJobs(options, s, tmp)
  const done = setup.length > 0 ? await runChild(setup.map((x) => x.job)) : []
  const made = new Map(setup.map((x, i) => [x.name, done[i]!]))
  const breakdown = made.get('profile') as Record<string, number> | undefined
  const commits = Math.max(1, Math.round(breakdown?.commitsPerEvent ?? 3))
  if (breakdown) log(`profile: ${breakdown.commitsPerEvent} commits, ${breakdown.statementsPerEvent} statements, ${breakdown.evaluationsPerEvent} evaluations per event`)
  const file = (name: string) => String(made.get(name)?.file ?? '')
  const templates: Templates = {
    history1k: { file: file('history1k'), workflowId: String(made.get('history1k')?.workflowId ?? '') },
    history1m: { file: file('history1m'), workflowId: String(made.get('history1m')?.workflowId ?? '') },
    crashed: { file: file('crashed') },
    pending1: { file: file('pending1') },
    pending100: { file: file('pending100') },
  }
  for (const x of setup) if (x.name !== 'profile') log(`template ${x.name}: ${made.get(x.name)?.generateMs} ms`)
  return { breakdown, commits, templates }
}

/** The set-up jobs the selected sections need, named. Pure. */
function setupJobs(options: BenchOptions, s: Sizes, tmp: TempDir): Array<{ name: string; job: Job }> {
  const wants = (section: string) => options.only.length === 0 || options.only.includes(section)
  const setup: Array<{ name: string; job: Job }> = []
  if (wants('pipeline') || wants('floor')) {
    setup.push({ name: 'profile', job: { kind: 'pipeline', params: { synchronous: 'FULL', events: options.quick ? 40 : s.pipelineEvents, profile: true } } })
  }
  if (wants('scaling')) {
    for (const [name, existing] of [['history1k', 1000], ['history1m', s.bigHistory]] as const) {
      setup.push({ name, job: { kind: 'history-template', params: { file: tmp.file(`${name}.db`), existing, events: s.historyEvents } } })
    }
    for (const [name, workflows] of [['pending1', 1], ['pending100', 100]] as const) {
      setup.push({ name, job: { kind: 'pending-template', params: { file: tmp.file(`${name}.db`), workflows, events: s.workflowEvents } } })
    }
  }
  if (wants('recovery')) setup.push({ name: 'crashed', job: { kind: 'crashed-template', params: { file: tmp.file('crashed.db'), workflows: s.recoverySessions } } })
  return setup
}

/** Runs every timed job `options.runs` times, round by round. */
async function runRounds(jobs: PlannedJob[], options: BenchOptions): Promise<RunResults> {
  const results: RunResults = {}
  for (let round = 1; round <= options.runs; round++) {
    // --quick runs a round in one process (process start-up would be a third of its time); the full run gives
    // every job a process of its own. Either way every job opens a fresh database file.
    const shared = options.quick ? jobs.filter((j) => !j.ownProcess) : []
    if (shared.length > 0) await runRound(shared, results, round)
    for (const planned of jobs.filter((j) => !shared.includes(j))) await runRound([planned], results, round)
  }
  return results
}

async function runRound(planned: PlannedJob[], results: RunResults, round: number): Promise<void> {
  const start = Date.now()
  const outcomes = (await runChild(planned.map((p) => p.job))) as Array<Record<string, number>>
  planned.forEach((p, i) => {
    const result = outcomes[i]!
    ;(results[p.key] ??= []).push(result)
    log(`round ${round} ${p.key}: ${JSON.stringify(result).slice(0, 150)}`)
  })
  log(`round ${round}: ${planned.length} job(s) in ${((Date.now() - start) / 1000).toFixed(1)} s`)
}

await main()
