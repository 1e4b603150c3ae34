import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CrashPoint, type CrashSite, type Engine, type EngineOptions, type IdGenerator, SimulatedCrash, type Tool, createEngine, sequentialIds } from '@ledgerflow/agent'
import { type LedgerflowDb, openDatabase } from '@ledgerflow/db'
import type { SandboxLimits } from '@ledgerflow/sandbox'
import { EventRecorder } from './event-recorder.js'
import { ManualClock } from './manual-clock.js'

/** Options of {@link createTestEngine}. */
export interface TestEngineOptions {
  tools?: readonly Tool[]
  /** A manual clock (default: a new one at 2026-01-01T12:00Z). */
  clock?: ManualClock
  /** Ids (default: sequential, `run_1`, `run_2`, ...). */
  ids?: IdGenerator
  /** Jitter source (default: always 0.5, so backoffs are predictable). */
  random?: () => number
  sandbox?: Partial<SandboxLimits>
  config?: EngineOptions['config']
  synchronous?: 'FULL' | 'NORMAL'
  workerId?: string
  /** Scheduler and worker settings for `engine.start()`. */
  worker?: EngineOptions['worker']
}

/** Which crash point to stop at. */
export interface CrashMatch {
  point: CrashPoint
  /** Only at this phase (for run checkpoints). */
  phase?: string
  /** Only for this handler run. */
  runId?: string
  /** Stop at the n-th matching hit (1-based, default 1). */
  nth?: number
}

/** A migrated SQLite file of its own, an engine on it, a manual clock and helpers. */
export interface TestEngine extends AsyncDisposable {
  engine: Engine
  db: LedgerflowDb
  clock: ManualClock
  /** Path of the SQLite file. */
  file: string
  events: EventRecorder
  /** Every crash point hit so far (whether or not it crashed). */
  readonly sites: CrashSite[]
  /** The next hit matching `match` throws {@link SimulatedCrash}, as if the process died right there. */
  crashAt(match: CrashMatch): void
  /**
   * A fresh engine (another worker id) on the same file, as after a process restart. Call it after a simulated
   * crash; then `env.engine.recover({ force: true })` resumes what the crash left.
   */
  restart(): Promise<Engine>
  close(): Promise<void>
}

let template: Promise<string> | undefined

/** Migrates once per process into a template file; each test copies it (much faster than migrating). */
function templateFile(): Promise<string> {
  template ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-template-'))
    const file = join(dir, 'template.db')
    const db = await openDatabase({ sqlite: file })
    db.native!.pragma('wal_checkpoint(TRUNCATE)')
    db.native!.pragma('journal_mode = DELETE')
    await db.close()
    return file
  })()
  return template
}

/**
 * Creates a test engine on a fresh, migrated SQLite file.
 *
 * ### Examples
 * ```ts
 * await using env = await createTestEngine({ tools: [email.tool] })
 * await env.engine.deployWorkflow({ id: 'wf', title: 'Test', code })
 * const result = await env.engine.runSession('wf')
 * expect(await checkInvariants(env.db)).toEqual([])
 * ```
 */
export async function createTestEngine(options: TestEngineOptions = {}): Promise<TestEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-test-'))
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'ledgerflow.db')
  copyFileSync(await templateFile(), file)
  const db = await openDatabase({ sqlite: file, synchronous: options.synchronous ?? 'NORMAL' })
  const clock = options.clock ?? new ManualClock()
  const ids = options.ids ?? sequentialIds()
  const sites: CrashSite[] = []
  const pending: Array<CrashMatch & { seen: number }> = []
  const faults = (site: CrashSite) => {
    sites.push(site)
    for (const m of pending) {
      if (m.point !== site.point || (m.phase && m.phase !== site.phase) || (m.runId && m.runId !== site.runId)) continue
      m.seen++
      if (m.seen >= (m.nth ?? 1)) {
        pending.splice(pending.indexOf(m), 1)
        throw new SimulatedCrash(site)
      }
    }
  }
  let generation = 0
  const make = () =>
    createEngine({
      db,
      tools: options.tools,
      clock,
      ids,
      random: options.random ?? (() => 0.5),
      sandbox: options.sandbox,
      config: options.config,
      faults,
      worker: options.worker,
      workerId: `${options.workerId ?? 'test-worker'}-${++generation}`,
    })
  const env: TestEngine = {
    engine: make(),
    db,
    clock,
    file,
    events: undefined as unknown as EventRecorder,
    sites,
    crashAt(match) {
      pending.push({ ...match, seen: 0 })
    },
    async restart() {
      env.events.dispose()
      // The crashed engine writes nothing more; closing it only releases its sandbox instances.
      await env.engine.close()
      env.engine = make()
      env.events = new EventRecorder(env.engine.events)
      return env.engine
    },
    async close() {
      env.events.dispose()
      await env.engine.close()
      await db.close()
      rmSync(dir, { recursive: true, force: true })
    },
    [Symbol.asyncDispose]() {
      return env.close()
    },
  }
  env.events = new EventRecorder(env.engine.events)
  return env
}
