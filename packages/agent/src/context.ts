import type { LedgerflowDb } from '@ledgerflow/db'
import { readJsonColumn } from '@ledgerflow/db'
import type { SandboxRunner } from '@ledgerflow/sandbox'
import { type Tracer, trace } from '@opentelemetry/api'
import type { Clock } from './clock.js'
import type { EngineConfig } from './config.js'
import { InternalError, NotFoundError } from './errors.js'
import type { EngineEmitter } from './events.js'
import type { CrashPoint, CrashSite, FaultHook } from './faults.js'
import type { IdGenerator } from './ids.js'
import { type HandlerConfig, formatIssues, handlerConfigSchema } from './schemas.js'
import type { ToolRegistry } from './tools/registry.js'

/** A script version as runs see it: immutable, so cached by id. */
export interface LoadedScript {
  id: string
  workflowId: string
  version: number
  code: string
  config: HandlerConfig
}

/** Everything the engine's functions work with. Built once by `createEngine`. */
export interface EngineContext {
  readonly db: LedgerflowDb
  readonly sandbox: SandboxRunner
  readonly tools: ToolRegistry
  readonly clock: Clock
  readonly ids: IdGenerator
  /** Jitter source, in [0, 1). */
  readonly random: () => number
  readonly events: EngineEmitter
  readonly config: EngineConfig
  readonly tracer: Tracer
  /**
   * Aborted while the engine is stopping: sessions stop between runs (the run in progress finishes first).
   * Never aborts an evaluation or a tool call.
   */
  readonly stopSignal: AbortSignal
  /** Calls the fault hook, if any, at a named crash point. */
  fault(point: CrashPoint, site?: Omit<CrashSite, 'point'>): void
  /** Loads (and caches) a script version with its parsed handler config. */
  loadScript(scriptId: string): Promise<LoadedScript>
}

/** Options of {@link createEngineContext}. */
export interface EngineContextOptions {
  db: LedgerflowDb
  sandbox: SandboxRunner
  tools: ToolRegistry
  clock: Clock
  ids: IdGenerator
  random: () => number
  events: EngineEmitter
  config: EngineConfig
  fault?: FaultHook
  /** The current stop signal (the worker replaces it when it starts again). */
  stopSignal: () => AbortSignal
}

/** Parses a handler config read back from the database (a trust boundary). */
export function parseHandlerConfig(text: string | null, where: { table: string; rowId: string }): HandlerConfig {
  let json: unknown
  try {
    json = readJsonColumn(text, { table: where.table, column: 'handler_config', rowId: where.rowId })
  } catch (error) {
    throw new InternalError((error as Error).message, { code: 'corrupt_handler_config', cause: error })
  }
  const parsed = handlerConfigSchema.safeParse(json)
  if (!parsed.success) {
    throw new InternalError(`Corrupt handler_config in ${where.table} row ${where.rowId}: ${formatIssues(parsed.error)}`, {
      code: 'corrupt_handler_config',
    })
  }
  return parsed.data
}

/** Builds the context. */
export function createEngineContext(options: EngineContextOptions): EngineContext {
  const scripts = new Map<string, LoadedScript>()
  const { fault } = options
  const context: EngineContext = {
    db: options.db,
    sandbox: options.sandbox,
    tools: options.tools,
    clock: options.clock,
    ids: options.ids,
    random: options.random,
    events: options.events,
    config: options.config,
    tracer: trace.getTracer('ledgerflow'),
    get stopSignal() {
      return options.stopSignal()
    },
    fault: fault ? (point, site = {}) => fault({ point, ...site }) : () => {},
    async loadScript(scriptId) {
      const cached = scripts.get(scriptId)
      if (cached) return cached
      const row = await options.db.scripts.get(scriptId)
      if (!row) throw new NotFoundError('script', scriptId)
      const loaded: LoadedScript = {
        id: row.id,
        workflowId: row.workflow_id,
        version: row.version,
        code: row.code,
        config: parseHandlerConfig(row.handler_config, { table: 'scripts', rowId: row.id }),
      }
      if (scripts.size >= 256) scripts.delete(scripts.keys().next().value!)
      scripts.set(scriptId, loaded)
      return loaded
    },
  }
  return context
}
