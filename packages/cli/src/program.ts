/** The `ledgerflow` command line: argument parsing only; each command lives in `commands/`. */
import { readFileSync } from 'node:fs'
import { Command, CommanderError, Option } from 'commander'
import { type CliApp, DEFAULT_DB, createApp, parseGlobalOptions } from './app.js'
import { deployCommand } from './commands/deploy.js'
import { initCommand } from './commands/init.js'
import { eventsCommand, logsCommand, mutationsCommand, runsCommand, sessionsCommand } from './commands/inspect.js'
import { pauseCommand, publishCommand, requeueCommand, resolveCommand, resumeCommand } from './commands/operator.js'
import { reportCommand } from './commands/report.js'
import { retryCommand, runCommand } from './commands/run.js'
import { statusCommand } from './commands/status.js'
import { processStopSignal, workerCommand } from './commands/worker.js'
import { formatError } from './errors.js'
import { type CliIo, processIo } from './io.js'

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Output channels (default: the process streams). */
  io?: CliIo
  /** Stops `worker` when aborted (default: SIGINT/SIGTERM of the process). */
  stopSignal?: AbortSignal
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

/** Runs a command with the app built from its (global) options. */
type Handle = (cmd: Command, fn: (app: CliApp) => Promise<number>) => Promise<void>

const JSON_FLAG = '--json'
const JSON_HELP = 'print one JSON document instead of text'

/** Adds the session budget options of `run` and `retry`. */
function withBudget(c: Command): Command {
  return c
    .option('--max-iterations <n>', 'consumer runs in the session (default 100)')
    .option('--max-cost <microdollars>', 'stop starting consumer runs past this cost')
    .option('--max-duration <ms>', 'stop starting consumer runs after this long')
    .option(JSON_FLAG, JSON_HELP)
}

/**
 * `init`, `deploy`, `run`, `retry`, `worker`. `worker` stops when `stopSignal` aborts, or when absent, on the process's
 * SIGINT/SIGTERM (reported to `io`).
 */
function addLifecycleCommands(program: Command, handle: Handle, { io, stopSignal }: { io: CliIo; stopSignal: AbortSignal | undefined }): void {
  program
    .command('init')
    .description('create the database (./.ledgerflow/ledgerflow.db unless --db or --postgres) and migrate it')
    .option(JSON_FLAG, JSON_HELP)
    .action((o, cmd: Command) => handle(cmd, (app) => initCommand(app, o)))
  program
    .command('deploy')
    .description('validate a workflow script and store it as the next version (activated unless --no-activate)')
    .argument('<script>', 'the workflow script (.js)')
    .option('--workflow <id>', 'workflow id (default: the file name)')
    .option('--title <title>', 'workflow title (default: the current title, or the id)')
    .option('--no-activate', 'store the version without making it active')
    .option(JSON_FLAG, JSON_HELP)
    .action((script: string, o, cmd: Command) => handle(cmd, (app) => deployCommand(app, script, o)))
  withBudget(program.command('run').description('run one session now, with live progress (exit 0 completed, 1 failed, 2 suspended)').argument('<workflow>')).action(
    (id: string, o, cmd: Command) => handle(cmd, (app) => runCommand(app, id, o)),
  )
  withBudget(program.command('retry').description('after a fix: make a failed or paused workflow active and run a retry session now').argument('<workflow>')).action(
    (id: string, o, cmd: Command) => handle(cmd, (app) => retryCommand(app, id, o)),
  )
  program
    .command('worker')
    .description('run the scheduler and worker until SIGINT/SIGTERM (a second Ctrl-C forces exit 130)')
    .option('--concurrency <n>', 'sessions at once, each of another workflow (default 4)')
    .option('--sandbox <where>', "where phases are evaluated: 'thread' (default: a sandbox thread, and this thread for the first evaluation after an idle moment) or 'calling' (this process's thread, 3 instances kept ready; for --concurrency 1 next to other worker processes)")
    .option('--until-idle', 'stop once nothing is due and nothing runs')
    .action((o, cmd: Command) =>
      handle(cmd, async (app) => {
        const signals = stopSignal ? undefined : processStopSignal(io)
        try {
          return await workerCommand(app, o, stopSignal ?? signals!.signal)
        } finally {
          signals?.dispose()
        }
      }),
    )
}

/** `status`, `sessions`, `runs`, `events`, `mutations`, `logs`, `report`. */
function addInspectCommands(program: Command, handle: Handle): void {
  const listing = (c: Command) => c.option('--limit <n>', 'most recent rows to show').option(JSON_FLAG, JSON_HELP)
  program
    .command('status')
    .description('every workflow at a glance, or one in detail')
    .argument('[workflow]')
    .option(JSON_FLAG, JSON_HELP)
    .action((id: string | undefined, o, cmd: Command) => handle(cmd, (app) => statusCommand(app, id, o)))
  listing(program.command('sessions').description("a workflow's sessions").argument('<workflow>')).action((id: string, o, cmd: Command) =>
    handle(cmd, (app) => sessionsCommand(app, id, o)),
  )
  listing(program.command('runs').description("a workflow's handler runs").argument('<workflow>').option('--session <session>', 'only the runs of this session')).action(
    (id: string, o, cmd: Command) => handle(cmd, (app) => runsCommand(app, id, o)),
  )
  listing(
    program
      .command('events')
      .description("a workflow's events, in order")
      .argument('<workflow>')
      .option('--status <status>', 'pending, reserved, consumed, skipped or dead')
      .option('--topic <topic>', 'only this topic'),
  ).action((id: string, o, cmd: Command) => handle(cmd, (app) => eventsCommand(app, id, o)))
  listing(
    program
      .command('mutations')
      .description("a workflow's mutation ledger")
      .argument('<workflow>')
      .option('--status <status>', 'pending, in_flight, applied, failed, indeterminate or skipped'),
  ).action((id: string, o, cmd: Command) => handle(cmd, (app) => mutationsCommand(app, id, o)))
  program
    .command('logs')
    .description("a run's log lines (console.* of the script and engine notes)")
    .argument('<run>', 'run id (the short form shown in tables works)')
    .option(JSON_FLAG, JSON_HELP)
    .action((id: string, o, cmd: Command) => handle(cmd, (app) => logsCommand(app, id, o)))
  program
    .command('report')
    .description('write a self-contained HTML report of a workflow')
    .argument('<workflow>')
    .requiredOption('--html <file>', 'where to write the report')
    .option(JSON_FLAG, JSON_HELP)
    .action((id: string, o, cmd: Command) => handle(cmd, (app) => reportCommand(app, id, o)))
}

/** `resolve`, `requeue`, `pause`, `resume`, `publish`. */
function addOperatorCommands(program: Command, handle: Handle): void {
  program
    .command('resolve')
    .description('settle a mutation whose outcome is unknown: applied, not_applied or skip')
    .argument('<mutation>')
    .argument('<resolution>', 'applied | not_applied | skip')
    .option('--result <json>', 'with applied: the result next() receives')
    .option(JSON_FLAG, JSON_HELP)
    .action((id: string, how: string, o, cmd: Command) => handle(cmd, (app) => resolveCommand(app, id, how, o)))
  program
    .command('requeue')
    .description('put a dead event back to pending')
    .argument('<event>')
    .option(JSON_FLAG, JSON_HELP)
    .action((id: string, o, cmd: Command) => handle(cmd, (app) => requeueCommand(app, id, o)))
  program
    .command('pause')
    .description('pause a workflow (no new sessions)')
    .argument('<workflow>')
    .option(JSON_FLAG, JSON_HELP)
    .action((id: string, o, cmd: Command) => handle(cmd, (app) => pauseCommand(app, id, o)))
  program
    .command('resume')
    .description('resume a paused workflow')
    .argument('<workflow>')
    .option(JSON_FLAG, JSON_HELP)
    .action((id: string, o, cmd: Command) => handle(cmd, (app) => resumeCommand(app, id, o)))
  program
    .command('publish')
    .description('publish an external event into a workflow topic (idempotent by message id)')
    .argument('<workflow>')
    .argument('<topic>')
    .requiredOption('--message-id <id>', 'the event message id (a second publish of it is ignored)')
    .option('--title <title>', 'event title')
    .option('--payload <json>', 'event payload (JSON)')
    .option(JSON_FLAG, JSON_HELP)
    .action((id: string, topic: string, o, cmd: Command) => handle(cmd, (app) => publishCommand(app, id, topic, o)))
}

/** Builds the commander program; `handle` runs a command with its app and records the exit code. */
function buildProgram(io: CliIo, handle: Handle, stopSignal: AbortSignal | undefined): Command {
  const program = new Command('ledgerflow')
    .description('Durable workflows for untrusted automation scripts: deploy, run, work, inspect, resolve, report.')
    .version(version(), '-v, --version')
    .addOption(new Option('--db <file>', `SQLite database file (default: ./${DEFAULT_DB})`).env('LEDGERFLOW_DB'))
    .addOption(new Option('--postgres <url>', 'PostgreSQL connection URL instead of SQLite').env('LEDGERFLOW_POSTGRES_URL'))
    .option('--files-root <dir>', 'folder the built-in Files tools may touch (default: the current folder)')
    .option('--tools <module>', 'ESM module exporting `tools: Tool[]` to register (repeatable)', collect)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s), outputError: (s, write) => write(s) })
    .showSuggestionAfterError()
  addLifecycleCommands(program, handle, { io, stopSignal })
  addInspectCommands(program, handle)
  addOperatorCommands(program, handle)
  return program
}

/**
 * Runs the CLI with `argv` (without `node` and the script) and returns the exit code. Errors are printed as one
 * `error: <code>: <message>` line; nothing throws.
 *
 * ### Examples
 * ```ts
 * const code = await runCli(['--db', 'flows.db', 'run', 'inbox'])
 * ```
 */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<number> {
  const io = options.io ?? processIo()
  let exitCode = 0
  let app: CliApp | undefined
  const handle = async (cmd: Command, fn: (app: CliApp) => Promise<number>) => {
    app = createApp(io, parseGlobalOptions(cmd.optsWithGlobals()))
    exitCode = await fn(app)
  }
  const program = buildProgram(io, handle, options.stopSignal)
  try {
    if (argv.length === 0) {
      program.outputHelp()
      return 0
    }
    await program.parseAsync([...argv], { from: 'user' })
    return exitCode
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode
    io.err(formatError(error))
    return 1
  } finally {
    await (app as CliApp | undefined)?.close().catch((error: unknown) => io.err(formatError(error)))
  }
}
