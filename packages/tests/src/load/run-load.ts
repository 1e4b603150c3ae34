/**
 * Load runs (issue 6): throughput of many workflows and events through ONE worker (`engine.start()`) on SQLite with
 * the default durability, with RSS sampled after warm-up and at the end; and recovery of many open sessions left by
 * a killed process. Both end with exactly-once accounting and SPEC §13 invariants at rest.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEngine } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { checkInvariants } from '../kit/check-invariants.js'
import { memoryEffectLog } from '../kit/recording-tool.js'
import { type LoadAccounting, type LoadSize, accountLoad, deployLoad, eventCounts, sinkTool } from './load-scenario.js'

/** Options of {@link runThroughput}. */
export interface ThroughputOptions {
  size: LoadSize
  /** Sessions the worker runs at once. Default 4. */
  concurrency?: number
  dir?: string
  /** Gives up when nothing is consumed for this long, ms. Default 300000. */
  stallMs?: number
  log?: (line: string) => void
}

/** What a throughput run measured. */
export interface ThroughputReport {
  size: LoadSize
  deployMs: number
  /** From `engine.start()` until every event was consumed. */
  runMs: number
  eventsPerSecond: number
  sessions: number
  runs: number
  /** RSS in bytes: after warm-up (a quarter of the events consumed), at the end, and the highest sample. */
  rss: { warmup: number; end: number; peak: number; growth: number; growthPercent: number }
  /** RSS (after a full GC when `--expose-gc`) at every tenth of the events, for the shape of the curve. */
  rssByTenth: number[]
  heapUsed: { warmup: number; end: number }
  accounting: LoadAccounting
  violations: string[]
}

const gc = (globalThis as { gc?: () => void }).gc

function memory(): { rss: number; heapUsed: number } {
  gc?.()
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed }
}

function workDir(dir: string | undefined, prefix: string): string {
  const d = dir ?? mkdtempSync(join(tmpdir(), prefix))
  mkdirSync(d, { recursive: true })
  return d
}

/**
 * Deploys `size.workflows` workflows and lets one worker consume all their events.
 *
 * ### Examples
 * ```ts
 * const report = await runThroughput({ size: { workflows: 50, eventsPerWorkflow: 20, batch: 5 } })
 * expect(report.accounting).toMatchObject({ lost: 0, duplicates: 0 })
 * ```
 */
export async function runThroughput(options: ThroughputOptions): Promise<ThroughputReport> {
  const log = options.log ?? (() => {})
  const { size } = options
  const total = size.workflows * size.eventsPerWorkflow
  const db = await openDatabase({ sqlite: join(workDir(options.dir, 'ledgerflow-load-'), 'load.db') })
  const sink = sinkTool(memoryEffectLog())
  const engine = createEngine({ db, tools: [sink.tool], worker: { concurrency: options.concurrency ?? 4, forceRecoveryAtStart: true, idleCheckMs: 1000 } })
  try {
    const t0 = performance.now()
    await deployLoad(engine, db, size)
    const deployMs = performance.now() - t0
    log(`deployed ${size.workflows} workflows in ${(deployMs / 1000).toFixed(1)} s`)

    const t1 = performance.now()
    await engine.start()
    let warmup: ReturnType<typeof memory> | undefined
    let peak = 0
    const rssByTenth: number[] = []
    let last = { consumed: -1, at: performance.now() }
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      const counts = await eventCounts(db)
      const consumed = counts.consumed ?? 0
      const rss = process.memoryUsage().rss
      peak = Math.max(peak, rss)
      if (!warmup && consumed >= total * 0.25) {
        warmup = memory()
        log(`warm-up: ${consumed} events consumed, rss ${mb(warmup.rss)} after a full GC`)
      }
      if (consumed !== last.consumed) {
        if (Math.floor(consumed / (total / 10)) !== Math.floor(Math.max(0, last.consumed) / (total / 10))) {
          const m = memory()
          rssByTenth.push(m.rss)
          log(`${consumed}/${total} events consumed (${((performance.now() - t1) / 1000).toFixed(0)} s, rss ${mb(m.rss)}, heap ${mb(m.heapUsed)})`)
        }
        last = { consumed, at: performance.now() }
      }
      const produced = Object.values(counts).reduce((a, b) => a + b, 0)
      if (consumed === total && produced === total) break
      if (performance.now() - last.at > (options.stallMs ?? 300_000)) throw new Error(`no progress for ${options.stallMs ?? 300_000} ms: ${JSON.stringify(counts)}`)
    }
    const runMs = performance.now() - t1
    await engine.stop()
    const end = memory()
    warmup ??= end
    const k = db.kysely
    const sessions = Number((await k.selectFrom('script_runs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst())?.n ?? 0)
    const runs = Number((await k.selectFrom('handler_runs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst())?.n ?? 0)
    const accounting = await accountLoad(db, size, sink.effects)
    const violations = (await checkInvariants(db, { quiescent: true, effects: [{ tool: 'Sink.write', effects: sink.effects }] })).map((v) => `invariant ${v.invariant}: ${v.message}`)
    return {
      size,
      deployMs,
      runMs,
      eventsPerSecond: total / (runMs / 1000),
      sessions,
      runs,
      rss: { warmup: warmup.rss, end: end.rss, peak, growth: end.rss - warmup.rss, growthPercent: (100 * (end.rss - warmup.rss)) / warmup.rss },
      heapUsed: { warmup: warmup.heapUsed, end: end.heapUsed },
      rssByTenth,
      accounting,
      violations,
    }
  } finally {
    await engine.close()
    await db.close()
  }
}

/** Options of {@link runRecovery}. */
export interface RecoveryOptions {
  sessions: number
  dir?: string
  log?: (line: string) => void
}

/** What a recovery run measured. */
export interface RecoveryLoadReport {
  sessions: number
  /** Sessions open when the process was killed. */
  openAtKill: number
  /** Ledger rows left `in_flight` by the kill. */
  inFlightAtKill: number
  /** `engine.recover({ force: true })` of a fresh process, start to end. */
  recoveryMs: number
  resumed: number
  openAfter: number
  inFlightAfter: number
  violations: string[]
}

function childScript(): string {
  const sibling = fileURLToPath(new URL('./open-sessions-child.js', import.meta.url))
  if (existsSync(sibling)) return sibling
  return fileURLToPath(new URL('../../dist/load/open-sessions-child.js', import.meta.url))
}

/**
 * A child process opens a session on each of `sessions` workflows, each stopped right after its ledger row was
 * committed `in_flight`, then is SIGKILLed; a fresh engine recovers them all, timed.
 */
export async function runRecovery(options: RecoveryOptions): Promise<RecoveryLoadReport> {
  const log = options.log ?? (() => {})
  const size: LoadSize = { workflows: options.sessions, eventsPerWorkflow: 2, batch: 1 }
  const file = join(workDir(options.dir, 'ledgerflow-recovery-'), 'recovery.db')
  {
    const db = await openDatabase({ sqlite: file })
    const engine = createEngine({ db, tools: [sinkTool().tool] })
    await deployLoad(engine, db, size)
    await engine.close()
    await db.close()
  }
  const killed = await new Promise<{ signal: NodeJS.Signals | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [childScript(), file, String(options.sessions)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c))
    child.on('close', (_code, signal) => resolve({ signal, out }))
  })
  if (killed.signal !== 'SIGKILL') throw new Error(`the session-opening process was not killed: ${killed.out}`)
  const db = await openDatabase({ sqlite: file })
  const sink = sinkTool(memoryEffectLog())
  const engine = createEngine({ db, tools: [sink.tool] })
  try {
    const openAtKill = (await db.sessions.listOpen()).length
    const inFlightAtKill = (await db.mutations.listByStatus('in_flight')).length
    log(`killed with ${openAtKill} open sessions and ${inFlightAtKill} in_flight ledger rows; recovering`)
    const t0 = performance.now()
    const report = await engine.recover({ force: true })
    const recoveryMs = performance.now() - t0
    const violations = (await checkInvariants(db, { quiescent: true, effects: [{ tool: 'Sink.write', effects: sink.effects }] })).map((v) => `invariant ${v.invariant}: ${v.message}`)
    return {
      sessions: options.sessions,
      openAtKill,
      inFlightAtKill,
      recoveryMs,
      resumed: report.resumed.length,
      openAfter: (await db.sessions.listOpen()).length,
      inFlightAfter: (await db.mutations.listByStatus('in_flight')).length,
      violations,
    }
  } finally {
    await engine.close()
    await db.close()
  }
}

/** Bytes as MiB text. */
export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
