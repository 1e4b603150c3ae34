/**
 * Scale-out: events/s with 1, 2 or 4 worker PROCESSES on one PostgreSQL schema, I/O-bound (the mutation tool waits
 * 20 ms), each worker running `concurrency` sessions at once. The workload is published before the workers start; the
 * clock runs from `go` until every event is consumed. CPU time of the workers and of the server is recorded, so the
 * report can say what bounds the scaling on this machine.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEngine } from '@ledgerflow/agent'
import { type LedgerflowDb, openDatabase } from '@ledgerflow/db'
import { round } from '../lib/stats.js'
import type { WorkerParams, WorkerReport } from './scale-worker.js'
import { benchSchemaName, dropSchema, machineBusy, serverCpuMs, serverUrl } from './server.js'
import { CONSUMER_SCRIPT, type SandboxPlacement, consumedCount, publishItems } from './workload.js'

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'scale-worker.js')
/** A run that takes longer than this has a problem (the orchestrator would kill the job at 10 minutes). */
const TIMEOUT_MS = 300_000

/** Parameters of one scale-out run. */
export interface ScaleParams {
  url?: string
  workers: number
  workflows: number
  /** Events per workflow. */
  events: number
  /** Sessions per worker at once. */
  concurrency: number
  /** How long the mutation tool waits (ms). */
  delayMs: number
  /** Where each worker evaluates (default `thread`). */
  runner?: SandboxPlacement
}

interface Worker {
  child: ChildProcess
  ready: Promise<void>
  report: Promise<WorkerReport>
}

function startWorker(params: WorkerParams): Worker {
  const child = fork(WORKER, [JSON.stringify(params)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  let markReady!: () => void
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  const report = new Promise<WorkerReport>((resolve, reject) => {
    child.on('message', (m: { type: string; report?: WorkerReport }) => {
      if (m.type === 'ready') markReady()
      if (m.type === 'report') resolve(m.report!)
    })
    child.on('exit', (code) => reject(new Error(`worker ${params.workerId} exited with code ${code} before reporting`)))
  })
  return { child, ready, report }
}

/** Runs the workload with `workers` processes and returns events/s and what it cost. */
export async function scaleOut(params: ScaleParams): Promise<Record<string, number>> {
  const url = serverUrl(params.url)
  const schema = benchSchemaName()
  const db = await openDatabase({ postgres: url, schema, poolSize: 2 })
  const workers: Worker[] = []
  try {
    await publishWorkload(db, params)
    const total = params.workflows * params.events
    for (let i = 0; i < params.workers; i++) {
      // Pool: one connection per session at a time, plus the scheduler, lease renewals and recovery.
      workers.push(startWorker({ url, schema, workerId: `bench-w${i + 1}`, concurrency: params.concurrency, delayMs: params.delayMs, poolSize: params.concurrency + 2, runner: params.runner ?? 'thread' }))
    }
    await Promise.all(workers.map((w) => w.ready))
    const busy = machineBusy()
    const serverCpu = serverCpuMs()
    const start = performance.now()
    for (const w of workers) w.child.send('go')
    const done = await awaitConsumed(db, workers, { total, start })
    const wallMs = performance.now() - start
    const serverCpuPerEvent = (serverCpuMs() - serverCpu) / total
    const machine = busy()
    for (const w of workers) w.child.send('stop')
    const reports = await Promise.all(workers.map((w) => w.report))
    await checkEndState(db, { total, done })
    return scaleFigures(params, reports, { total, wallMs, serverCpuPerEvent, machine })
  } finally {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL')
    await db.close()
    await dropSchema(url, schema)
  }
}

/** Deploys the workflows and publishes their events, before any worker starts. */
async function publishWorkload(db: LedgerflowDb, params: ScaleParams): Promise<void> {
  const setup = createEngine({ db, workerId: 'bench-setup' })
  for (let w = 0; w < params.workflows; w++) {
    await setup.deployWorkflow({ id: `wf-${w}`, title: `Bench ${w}`, code: CONSUMER_SCRIPT })
    await publishItems(db, { workflowId: `wf-${w}`, count: params.events })
  }
  await setup.close()
}

/**
 * Polls until `total` events are consumed and returns the count; throws when a worker process died or the run took
 * longer than {@link TIMEOUT_MS} since `start`.
 */
async function awaitConsumed(db: LedgerflowDb, workers: readonly Worker[], { total, start }: { total: number; start: number }): Promise<number> {
  let done = 0
  while ((done = await consumedCount(db)) < total) {
    if (workers.some((w) => w.child.exitCode !== null || w.child.signalCode !== null)) throw new Error('a worker process died during the run')
    if (performance.now() - start > TIMEOUT_MS) throw new Error(`only ${done} of ${total} events consumed after ${TIMEOUT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return done
}

/** Throws unless every session closed and every event's mutation applied. */
async function checkEndState(db: LedgerflowDb, { total, done }: { total: number; done: number }): Promise<void> {
  const open = await db.sessions.listOpen()
  const applied = await db.kysely.selectFrom('mutations').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'applied').executeTakeFirst()
  if (open.length > 0 || Number(applied?.n) !== total || done !== total) {
    throw new Error(`inconsistent end state: ${open.length} open sessions, ${applied?.n} applied mutations for ${total} events`)
  }
}

/** The figures of a run. Pure. */
function scaleFigures(
  params: ScaleParams,
  reports: readonly WorkerReport[],
  { total, wallMs, serverCpuPerEvent, machine }: { total: number; wallMs: number; serverCpuPerEvent: number; machine: number },
): Record<string, number> {
  const workerCpuPerEvent = reports.reduce((s, r) => s + r.cpuMs, 0) / total
  const cpuPerEvent = workerCpuPerEvent + serverCpuPerEvent
  return {
    workers: params.workers,
    concurrency: params.concurrency,
    events: total,
    wallMs: round(wallMs, 1),
    eventsPerSec: round(total / (wallMs / 1000), 1),
    workerCpuMsPerEvent: round(workerCpuPerEvent),
    serverCpuMsPerEvent: round(serverCpuPerEvent),
    // What the machine could do if CPU were the only limit: cores / CPU per event.
    cpuBoundEventsPerSec: round((availableParallelism() * 1000) / cpuPerEvent, 1),
    machineBusy: round(machine),
    statementsPerEvent: round(reports.reduce((s, r) => s + r.statements, 0) / total, 2),
    transactionsPerEvent: round(reports.reduce((s, r) => s + r.transactions, 0) / total, 2),
    sessions: reports.reduce((s, r) => s + r.sessions, 0),
  }
}
