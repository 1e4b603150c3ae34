import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CrashPoint, type CrashSite, type Engine, type EngineOptions, type IdGenerator, SimulatedCrash, type Tool, createEngine, defaultIds, sequentialIds } from '@ledgerflow/agent'
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
  /**
   * Worker threads for phase evaluations (the engine's default is 1). Default 0 here: evaluations on the calling
   * thread finish within turns of its event loop, which keeps "yield until the engine is idle" deterministic under a
   * manual clock. Pass 1 to exercise the worker-thread runner.
   */
  sandboxThreads?: number
  /** Never-used instances kept ready (the engine's `sandboxPool`; on the calling thread with `sandboxThreads: 0`). */
  sandboxPool?: number
  /** With sandbox threads, instances kept on the calling thread for an idle engine (the engine's `sandboxCallerPool`). */
  sandboxCallerPool?: number
  /** Reset used sandbox instances in place (the engine's opt-in `sandboxRecycle`). Default false. */
  sandboxRecycle?: boolean
  config?: EngineOptions['config']
  /**
   * Where the database lives: a fresh SQLite file in a temp folder (default), or a fresh schema `lf_test_<random>`
   * of the PostgreSQL database at `url`, dropped on close.
   */
  backend?: TestBackend
  /** PostgreSQL connection URL; required with `backend: 'postgres'`. */
  url?: string
  /**
   * Commit durability. Default `NORMAL`: on SQLite no fsync per commit, on PostgreSQL `synchronous_commit=off` (unless
   * the URL sets its own `options`). Same semantics either way; only durability on power loss differs.
   */
  synchronous?: 'FULL' | 'NORMAL'
  workerId?: string
  /** Scheduler and worker settings for `engine.start()`. */
  worker?: EngineOptions['worker']
  /**
   * Called at every crash point the engine passes, before `crashAt` decides whether to crash there: take a
   * power-loss image (`copyDatabaseImage`), count, or end the process.
   */
  onCrashPoint?: (site: CrashSite) => void
  /**
   * SQLite: open this existing file (for example a power-loss image from `copyDatabaseImage`) instead of a fresh copy
   * of the template. It is migrated if needed and never deleted.
   */
  file?: string
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

/** The backends a test engine can run on. */
export type TestBackend = 'sqlite' | 'postgres'

/** A migrated database of its own (SQLite file or PostgreSQL schema), an engine on it, a manual clock and helpers. */
export interface TestEngine extends AsyncDisposable {
  engine: Engine
  db: LedgerflowDb
  clock: ManualClock
  readonly backend: TestBackend
  /** Path of the SQLite file (undefined on PostgreSQL). */
  file: string | undefined
  /** The PostgreSQL schema of this engine (undefined on SQLite). */
  schema: string | undefined
  events: EventRecorder
  /** Every crash point hit so far (whether or not it crashed). */
  readonly sites: CrashSite[]
  /** The next hit matching `match` throws {@link SimulatedCrash}, as if the process died right there. */
  crashAt(match: CrashMatch): void
  /**
   * A fresh engine (another worker id) on the same database, as after a process restart. Call it after a simulated
   * crash; then `env.engine.recover({ force: true })` resumes what the crash left.
   */
  restart(): Promise<Engine>
  close(): Promise<void>
}

let template: Promise<string> | undefined
/** Test engines made in this process (worker ids are unique per engine, as real worker ids are per process). */
let engineCount = 0

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

/** A fresh database of the chosen backend, and how to get rid of it. */
interface TestDatabase {
  db: LedgerflowDb
  file?: string
  schema?: string
  dispose(): Promise<void>
}

async function openSqlite(options: TestEngineOptions): Promise<TestDatabase> {
  if (options.file) {
    const db = await openDatabase({ sqlite: options.file, synchronous: options.synchronous ?? 'NORMAL' })
    return { db, file: options.file, dispose: () => db.close() }
  }
  const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-test-'))
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'ledgerflow.db')
  try {
    copyFileSync(await templateFile(), file)
    const db = await openDatabase({ sqlite: file, synchronous: options.synchronous ?? 'NORMAL' })
    return {
      db,
      file,
      async dispose() {
        await db.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

/** The URL with `synchronous_commit=off` for `NORMAL`, unless it sets its own server options. */
function postgresUrl(url: string, synchronous: 'FULL' | 'NORMAL'): string {
  if (synchronous === 'FULL' || !URL.canParse(url)) return url
  const parsed = new URL(url)
  if (!parsed.searchParams.has('options')) parsed.searchParams.set('options', '-c synchronous_commit=off')
  return parsed.toString()
}

async function openPostgres(options: TestEngineOptions): Promise<TestDatabase> {
  if (!options.url) throw new Error("createTestEngine: backend 'postgres' needs a url")
  const url = postgresUrl(options.url, options.synchronous ?? 'NORMAL')
  const schema = `lf_test_${randomBytes(6).toString('hex')}`
  const drop = async (db: LedgerflowDb) => {
    await db.kysely.schema.dropSchema(schema).ifExists().cascade().execute()
  }
  let db: LedgerflowDb
  try {
    db = await openDatabase({ postgres: url, schema, poolSize: 4 })
  } catch (error) {
    // The schema may exist half-migrated: drop it through a connection that does not migrate.
    const cleanup = await openDatabase({ postgres: url, schema, poolSize: 1, migrate: false })
    await drop(cleanup).finally(() => cleanup.close())
    throw error
  }
  return {
    db,
    schema,
    async dispose() {
      try {
        await drop(db)
      } finally {
        await db.close()
      }
    },
  }
}

/**
 * Creates a test engine on a fresh, migrated database: a SQLite file by default, or a schema of its own on a
 * PostgreSQL server (`{ backend: 'postgres', url }`). `close()` removes the file or drops the schema.
 *
 * ### Examples
 * ```ts
 * await using env = await createTestEngine({ tools: [email.tool] })
 * await env.engine.deployWorkflow({ id: 'wf', title: 'Test', code })
 * const result = await env.engine.runSession('wf')
 * expect(await checkInvariants(env.db)).toEqual([])
 *
 * await using pg = await createTestEngine({ backend: 'postgres', url: process.env.DATABASE_URL })
 * ```
 */
export async function createTestEngine(options: TestEngineOptions = {}): Promise<TestEngine> {
  const backend = options.backend ?? 'sqlite'
  const database = backend === 'postgres' ? await openPostgres(options) : await openSqlite(options)
  const { db } = database
  const clock = options.clock ?? new ManualClock()
  // An existing file already holds `run_1`...: continue with ids that cannot collide with it.
  const ids = options.ids ?? (options.file ? defaultIds : sequentialIds())
  const sites: CrashSite[] = []
  const pending: Array<CrashMatch & { seen: number }> = []
  const faults = (site: CrashSite) => {
    sites.push(site)
    options.onCrashPoint?.(site)
    for (const m of pending) {
      if (m.point !== site.point || (m.phase && m.phase !== site.phase) || (m.runId && m.runId !== site.runId)) continue
      m.seen++
      if (m.seen >= (m.nth ?? 1)) {
        pending.splice(pending.indexOf(m), 1)
        throw new SimulatedCrash(site)
      }
    }
  }
  const make = () =>
    createEngine({
      db,
      tools: options.tools,
      clock,
      ids,
      random: options.random ?? (() => 0.5),
      sandbox: options.sandbox,
      sandboxThreads: options.sandboxThreads ?? 0,
      sandboxRecycle: options.sandboxRecycle ?? false,
      ...(options.sandboxPool === undefined ? {} : { sandboxPool: options.sandboxPool }),
      ...(options.sandboxCallerPool === undefined ? {} : { sandboxCallerPool: options.sandboxCallerPool }),
      config: options.config,
      faults,
      worker: options.worker,
      // Unique in the process: an image reopened by another test engine must not look like its own live session.
      workerId: `${options.workerId ?? 'test-worker'}-${++engineCount}`,
    })
  const env: TestEngine = {
    engine: make(),
    db,
    clock,
    backend,
    file: database.file,
    schema: database.schema,
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
      await database.dispose()
    },
    [Symbol.asyncDispose]() {
      return env.close()
    },
  }
  env.events = new EventRecorder(env.engine.events)
  return env
}
