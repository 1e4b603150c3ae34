/**
 * `ledgerflow worker`: the scheduler and worker loop until stopped. SIGINT/SIGTERM stop it gracefully (current runs
 * finish or checkpoint, sessions close, leases are released; exit 0); a second signal forces exit 130.
 */
import type { EngineEmitter } from '@ledgerflow/agent'
import type { CliApp } from '../app.js'
import { ago, shortId } from '../format/values.js'
import type { CliIo } from '../io.js'
import { EXIT, parseChoice, parsePositiveInt } from './shared.js'

/** Options of `worker`. */
export interface WorkerCommandOptions {
  concurrency?: string
  /** `thread` (the engine's default sandbox thread) or `calling` (this process's thread with 3 ready instances). */
  sandbox?: string
  /** Stop once nothing is due and nothing runs (scripts, CI, demos). */
  untilIdle?: boolean
}

/** Counters of the worker display. */
interface WorkerStats {
  running: number
  /** The last scheduler tick found nothing due. */
  idle: boolean
  sessions: Record<string, number>
  runs: number
  published: number
  nextWakeAt: number | undefined
}

/** Keeps the one-line display (terminal) or prints a line per session (pipes, logs). */
function attachWorkerDisplay(events: EngineEmitter, io: CliIo, onIdle: () => void) {
  const stats: WorkerStats = { running: 0, idle: false, sessions: {}, runs: 0, published: 0, nextWakeAt: undefined }
  const output = workerOutput(io, stats)
  const offs = [...listenToSessions(events, output), ...listenToScheduler(events, output, onIdle)]
  return {
    stats,
    dispose() {
      for (const off of offs) off()
      if (io.interactive) io.err('\r\x1b[K')
    },
  }
}

/** The status line of the worker display. Pure but for the clock (the time to the next wake-up). */
function workerLine(stats: WorkerStats): string {
  const done = Object.entries(stats.sessions)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ')
  const total = Object.values(stats.sessions).reduce((a, b) => a + b, 0)
  const idle = stats.running === 0 && stats.idle ? ` · idle${stats.nextWakeAt ? `, next ${ago(stats.nextWakeAt, Date.now())}` : ''}` : ''
  return `worker · ${stats.running} running · ${total} sessions${done ? ` (${done})` : ''} · ${stats.runs} runs · ${stats.published} events${idle}`
}

/** Where the worker display writes: its counters, the status line (terminal only) and the lines above it. */
interface WorkerOutput {
  stats: WorkerStats
  io: CliIo
  /** Redraws the status line. */
  draw(): void
  /** Writes a line above the status line. */
  print(text: string): void
}

function workerOutput(io: CliIo, stats: WorkerStats): WorkerOutput {
  const draw = () => {
    if (io.interactive) io.err(`\r\x1b[K${workerLine(stats)}`)
  }
  const print = (text: string) => {
    if (io.interactive) io.err('\r\x1b[K')
    io.err(`${text}\n`)
    draw()
  }
  return { stats, io, draw, print }
}

const stamp = () => new Date().toISOString().slice(11, 19)

/** Listens for sessions starting and ending, runs starting and events published. */
function listenToSessions(events: EngineEmitter, { stats, io, draw, print }: WorkerOutput) {
  return [
    events.on('session:start', (e) => {
      stats.running++
      stats.idle = false
      if (!io.interactive) print(`${stamp()} ${e.workflowId}: ${e.trigger} session ${shortId(e.sessionId)} started`)
      draw()
    }),
    events.on('session:end', (e) => {
      stats.running = Math.max(0, stats.running - 1)
      stats.sessions[e.status] = (stats.sessions[e.status] ?? 0) + 1
      const note = e.error ? `: ${e.error}` : e.budgetExhausted ? ` (budget: ${e.budgetExhausted})` : ''
      if (!io.interactive || e.status !== 'completed') print(`${stamp()} ${e.workflowId}: session ${shortId(e.sessionId)} ${e.status}${note}`)
      else draw()
    }),
    events.on('run:start', () => {
      stats.runs++
      draw()
    }),
    events.on('event:published', () => {
      stats.published++
      draw()
    }),
  ]
}

/** Listens for worker errors and scheduler ticks; `onIdle` when a tick found nothing due and nothing runs. */
function listenToScheduler(events: EngineEmitter, { stats, draw, print }: WorkerOutput, onIdle: () => void) {
  return [
    events.on('worker:error', (e) => print(`${stamp()} worker error${e.workflowId ? ` (${e.workflowId})` : ''}: ${(e.error as Error)?.message ?? String(e.error)}`)),
    events.on('scheduler:tick:empty', (e) => {
      stats.nextWakeAt = e.nextWakeAt
      stats.idle = true
      draw()
      if (stats.running === 0) onIdle()
    }),
    events.on('scheduler:tick', (e) => {
      stats.nextWakeAt = e.nextWakeAt
      stats.idle = false
      draw()
    }),
  ]
}

/**
 * Stops on the first SIGINT/SIGTERM; exits the process with 130 on the second. Returns the signal and a function that
 * removes the handlers.
 */
export function processStopSignal(io: CliIo): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController()
  const onSignal = (name: NodeJS.Signals) => {
    if (!controller.signal.aborted) {
      io.err(`\n${name}: stopping after the current runs… (press Ctrl-C again to force)\n`)
      controller.abort()
      return
    }
    io.err(`${name}: forced exit\n`)
    process.exit(EXIT.interrupted)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

/** `--sandbox calling`: evaluations on this process's thread, with 3 never-used instances kept ready. */
const CALLING_THREAD = { threads: 0, pool: 3 } as const

/** Runs the worker until `stop` aborts (or, with `untilIdle`, until nothing is due). */
export async function workerCommand(app: CliApp, options: WorkerCommandOptions, stop: AbortSignal): Promise<number> {
  const concurrency = parsePositiveInt(options.concurrency, '--concurrency') ?? 4
  const sandbox = parseChoice(options.sandbox, ['thread', 'calling'] as const, '--sandbox') ?? 'thread'
  const { engine, db, location } = await app.open({ worker: { concurrency }, ...(sandbox === 'calling' ? { sandbox: CALLING_THREAD } : {}) })
  const idle = new AbortController()
  const display = attachWorkerDisplay(engine.events, app.io, () => {
    if (options.untilIdle) idle.abort()
  })
  try {
    app.io.err(`worker ${engine.workerId} on ${location} (concurrency ${concurrency}${sandbox === 'calling' ? ', sandbox on this thread' : ''})${options.untilIdle ? ', until idle' : ''}\n`)
    await engine.start()
    await new Promise<void>((resolve) => {
      if (stop.aborted || idle.signal.aborted) return resolve()
      stop.addEventListener('abort', () => resolve(), { once: true })
      idle.signal.addEventListener('abort', () => resolve(), { once: true })
    })
    await engine.stop()
  } finally {
    display.dispose()
  }
  const total = Object.values(display.stats.sessions).reduce((a, b) => a + b, 0)
  const left = (await db.sessions.listOpen()).filter((s) => s.owner === engine.workerId).length
  app.io.err(
    `worker stopped: ${total} session${total === 1 ? '' : 's'}, ${display.stats.runs} runs, ${left === 0 ? 'no session left open' : `${left} session(s) left open`}\n`,
  )
  return EXIT.ok
}
