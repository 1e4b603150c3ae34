/**
 * @module @ledgerflow/cli
 *
 * The `ledgerflow` command line, usable in-process: `runCli(argv)` runs any command and returns its exit code; the
 * command functions and formatters are exported for embedding and tests.
 *
 * ### Examples
 * ```ts
 * import { runCli, captureIo } from '@ledgerflow/cli'
 *
 * const io = captureIo()
 * const code = await runCli(['--db', 'flows.db', 'events', 'inbox', '--json'], { io })
 * const events = JSON.parse(io.stdout)
 * ```
 */
export { runCli, type RunCliOptions } from './program.js'
export { createApp, parseGlobalOptions, DEFAULT_DB, type CliApp, type GlobalOptions, type Opened } from './app.js'
export { captureIo, processIo, type CliIo, type CapturedIo } from './io.js'
export { CliError, describeError, formatError } from './errors.js'
export { builtinTools, loadToolModule, mergeTools } from './tools.js'
export { initCommand } from './commands/init.js'
export { deployCommand, defaultWorkflowId, sourceExcerpt, type DeployCommandOptions } from './commands/deploy.js'
export { runCommand, retryCommand, nextSteps, type RunCommandOptions } from './commands/run.js'
export { workerCommand, processStopSignal, type WorkerCommandOptions } from './commands/worker.js'
export { statusCommand } from './commands/status.js'
export { sessionsCommand, runsCommand, eventsCommand, mutationsCommand, logsCommand, type ListOptions } from './commands/inspect.js'
export { resolveCommand, requeueCommand, pauseCommand, resumeCommand, publishCommand } from './commands/operator.js'
export { reportCommand } from './commands/report.js'
export { EXIT, exitCodeOf } from './commands/shared.js'
export { attachProgress, summaryLines, type ProgressTotals } from './progress.js'
export { table, fields, truncate, type Column } from './format/table.js'
export { shortId, ago, duration, money } from './format/values.js'
export { resolveId, type IdTable } from './format/resolve-id.js'
