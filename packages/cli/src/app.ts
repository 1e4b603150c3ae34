/**
 * What every command runs on: the validated global options, the output channels, and (opened on first use) the
 * database and an engine with the CLI's tools.
 */
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { type Engine, type Tool, type WorkerOptions, createEngine } from '@ledgerflow/agent'
import { type LedgerflowDb, openDatabase } from '@ledgerflow/db'
import { z } from 'zod'
import { CliError } from './errors.js'
import type { CliIo } from './io.js'
import { builtinTools, loadToolModule, mergeTools } from './tools.js'

/** The default SQLite file, relative to the working directory. */
export const DEFAULT_DB = '.ledgerflow/ledgerflow.db'

/** Global options as commander hands them over; validated at this boundary. */
export const globalOptionsSchema = z
  .object({
    db: z.string().min(1).optional(),
    postgres: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
    filesRoot: z.string().min(1).optional(),
    tools: z.array(z.string().min(1)).optional(),
  })
  .refine((o) => !(o.db && o.postgres), { message: '--db and --postgres cannot be used together' })

/** Validated global options. */
export type GlobalOptions = z.infer<typeof globalOptionsSchema>

/** An open database and an engine on it. */
export interface Opened {
  db: LedgerflowDb
  engine: Engine
  /** Where the data lives (a file path, or the PostgreSQL URL without its password). */
  location: string
  tools: readonly Tool[]
}

/** What a command adds to the engine it opens. */
export interface OpenExtra {
  worker?: WorkerOptions
  /** Sandbox threads and ready instances (`createEngine`'s `sandboxThreads` and `sandboxPool`); default the engine's. */
  sandbox?: { threads: number; pool: number }
}

/** The context a command runs in. */
export interface CliApp {
  readonly io: CliIo
  readonly options: GlobalOptions
  /** Opens the database and the engine once; later calls return the same. */
  open(extra?: OpenExtra): Promise<Opened>
  /** Stops the engine and closes the database, if opened. */
  close(): Promise<void>
}

/** Parses raw global options (throws `CliError` `invalid_option`). */
export function parseGlobalOptions(raw: unknown): GlobalOptions {
  const parsed = globalOptionsSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const name = issue.path.length > 0 ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ` : ''
    throw new CliError('invalid_option', `${name}${issue.message}`.trim())
  }
  return parsed.data
}

function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.href
  } catch {
    return 'postgres'
  }
}

/** Creates the command context. Nothing is opened until a command asks. */
export function createApp(io: CliIo, options: GlobalOptions): CliApp {
  let opened: Promise<Opened> | undefined
  const open = async (extra: OpenExtra = {}): Promise<Opened> => {
    let db: LedgerflowDb
    let location: string
    if (options.postgres) {
      db = await openDatabase({ postgres: options.postgres })
      location = redact(options.postgres)
    } else {
      location = resolve(io.cwd, options.db ?? DEFAULT_DB)
      mkdirSync(dirname(location), { recursive: true })
      db = await openDatabase({ sqlite: location })
    }
    try {
      const extraTools: Tool[] = []
      for (const spec of options.tools ?? []) extraTools.push(...(await loadToolModule(spec, io.cwd)))
      const tools = mergeTools(builtinTools({ filesRoot: resolve(io.cwd, options.filesRoot ?? '.') }), extraTools)
      const sandbox = extra.sandbox ? { sandboxThreads: extra.sandbox.threads, sandboxPool: extra.sandbox.pool } : {}
      const engine = createEngine({ db, tools, ...sandbox, ...(extra.worker ? { worker: extra.worker } : {}) })
      return { db, engine, location, tools }
    } catch (error) {
      await db.close()
      throw error
    }
  }
  return {
    io,
    options,
    open(extra) {
      opened ??= open(extra)
      return opened
    },
    async close() {
      if (!opened) return
      const o = await opened.catch(() => undefined)
      opened = undefined
      if (!o) return
      await o.engine.close()
      await o.db.close()
    },
  }
}
