/**
 * A {@link SandboxRunner} whose evaluations run in worker threads. Each thread owns its pool of pre-created,
 * never-used instances and refills it while the calling thread does other work (database commits), so instance
 * creation and the garbage collection of spent WebAssembly memories leave the calling thread. Host calls and
 * `console.*` are proxied to the calling thread over the worker's message port; the guarantees are those of the
 * in-thread runner (a fresh, memory-bounded instance per evaluation, never reused).
 */
import { Worker } from 'node:worker_threads'
import { limitError } from './errors.js'
import type { EvaluationPlan } from './evaluation-plan.js'
import { replyOf } from './host-calls.js'
import { compiledQuickJS } from './quickjs-instance.js'
import { failed } from './run-plan.js'
import type { EvaluationOutcome, SandboxLimits } from './types.js'
import type { FromWorker, SandboxWorkerData, ToWorker } from './worker-protocol.js'

/**
 * The worker entry: next to this file in `dist`; from the sources (tests run `src/*.ts`) the built one in `dist`.
 */
function workerEntry(): URL {
  const here = import.meta.url
  return here.endsWith('.ts') ? new URL('../dist/sandbox-worker.js', here) : new URL('./sandbox-worker.js', here)
}

/** Evaluations per thread that can be aborted while their guest code runs (beyond that: when it yields). */
const ABORT_SLOTS = 256

interface Pending {
  plan: EvaluationPlan
  slot: number
  resolve(outcome: EvaluationOutcome): void
  startedAt: number
  unsubscribe(): void
}

/** One worker thread and the evaluations it runs. */
class SandboxThread {
  readonly pending = new Map<number, Pending>()
  #worker: Worker | undefined
  #starting: Promise<Worker> | undefined
  #nextId = 1
  #closed = false
  readonly #abortFlags = new Int32Array(new SharedArrayBuffer(4 * ABORT_SLOTS))
  readonly #freeSlots = Array.from({ length: ABORT_SLOTS }, (_, i) => ABORT_SLOTS - 1 - i)

  constructor(private readonly config: { limits: SandboxLimits; poolSize: number; recycle: boolean; preload: boolean | undefined }) {}

  get load(): number {
    return this.pending.size
  }

  /** Starts the thread now (its pool fills while the caller does other work). */
  warm(): Promise<Worker> {
    this.#starting ??= compiledQuickJS().then((quickjs) => {
      if (this.#closed) throw new Error('The sandbox runner is closed')
      const data: SandboxWorkerData = {
        quickjs,
        poolSize: this.config.poolSize,
        memoryLimitBytes: this.config.limits.memoryLimitBytes,
        recycle: this.config.recycle,
        preload: this.config.preload,
        abortFlags: this.#abortFlags,
      }
      const worker = new Worker(workerEntry(), { workerData: data })
      worker.on('message', (message: FromWorker) => this.#onMessage(message))
      worker.on('error', (error) => this.#lost(`The sandbox thread failed: ${error.message}`))
      worker.on('exit', (code) => this.#lost(`The sandbox thread exited (code ${code})`))
      // After the listeners: adding a 'message' listener refs the port again. An idle thread never keeps the
      // process alive; a running evaluation does (see evaluate).
      worker.unref()
      this.#worker = worker
      return worker
    })
    return this.#starting
  }

  async evaluate(plan: EvaluationPlan, startedAt: number): Promise<EvaluationOutcome> {
    let worker: Worker
    try {
      worker = await this.warm()
    } catch (error) {
      this.#starting = undefined
      return failed(limitError('sandbox_internal', `Starting the sandbox thread failed: ${(error as Error)?.message ?? String(error)}`), startedAt)
    }
    const id = this.#nextId++
    const slot = this.#freeSlots.pop() ?? -1
    if (slot >= 0) Atomics.store(this.#abortFlags, slot, 0)
    return new Promise<EvaluationOutcome>((resolve) => {
      // The flag stops guest code that is running; the message wakes an evaluation that waits for a host call.
      const onAbort = () => {
        if (slot >= 0) Atomics.store(this.#abortFlags, slot, 1)
        worker.postMessage({ t: 'abort', id } satisfies ToWorker)
      }
      plan.signal?.addEventListener('abort', onAbort, { once: true })
      const unsubscribe = () => plan.signal?.removeEventListener('abort', onAbort)
      this.pending.set(id, { plan, slot, resolve, startedAt, unsubscribe })
      // A running evaluation keeps the process alive, as its wall timer does in the in-thread runner.
      if (this.pending.size === 1) worker.ref()
      const { code, entry, globals, limits } = plan
      worker.postMessage({ t: 'eval', id, slot, plan: { code, entry, globals, limits } } satisfies ToWorker)
    })
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#failAll('The sandbox runner is closed')
    // A thread still starting is terminated once it exists (or never created: `warm` checks `#closed`).
    const worker = this.#worker ?? (await this.#starting?.catch(() => undefined))
    this.#worker = undefined
    this.#starting = undefined
    if (worker) {
      worker.removeAllListeners('exit')
      await worker.terminate()
    }
  }

  #onMessage(message: FromWorker): void {
    const pending = this.pending.get(message.id)
    if (pending === undefined) return
    switch (message.t) {
      case 'host': {
        const { id, call } = message
        void replyOf(pending.plan.host, call).then((reply) => {
          if (this.pending.has(id)) this.#worker?.postMessage({ t: 'reply', id, call: call.index, reply } satisfies ToWorker)
        })
        return
      }
      case 'console':
        try {
          pending.plan.onConsole?.(message.level, message.message)
        } catch {
          // A failing log sink is the host's problem; it must not change the script's outcome.
        }
        return
      case 'done':
        this.#settle(message.id, message.outcome)
    }
  }

  #settle(id: number, outcome: EvaluationOutcome): void {
    const pending = this.pending.get(id)
    if (pending === undefined) return
    this.pending.delete(id)
    pending.unsubscribe()
    if (pending.slot >= 0) this.#freeSlots.push(pending.slot)
    if (this.pending.size === 0) this.#worker?.unref()
    pending.resolve(outcome)
  }

  #failAll(message: string): void {
    for (const [id, pending] of [...this.pending]) this.#settle(id, failed(limitError('sandbox_internal', message), pending.startedAt))
  }

  /** The thread died (it should not: guest faults stay inside instances): fail its evaluations, start anew later. */
  #lost(message: string): void {
    this.#worker = undefined
    this.#starting = undefined
    this.#failAll(message)
  }
}

/** Evaluations spread over `threads` worker threads (the least busy one takes the next, in turn). @internal */
export class ThreadedEvaluator {
  readonly #threads: SandboxThread[]
  #next = 0

  constructor(config: { limits: SandboxLimits; poolSize: number; threads: number; recycle: boolean; preload: boolean | undefined }) {
    this.#threads = Array.from({ length: config.threads }, () => new SandboxThread(config))
    // Start the threads at once, so their pools are full before the first evaluation.
    for (const thread of this.#threads) thread.warm().catch(() => {})
  }

  /** Evaluations in flight on all threads. */
  get load(): number {
    let load = 0
    for (const thread of this.#threads) load += thread.load
    return load
  }

  evaluate(plan: EvaluationPlan, startedAt: number): Promise<EvaluationOutcome> {
    // Round robin among the least busy: sequential evaluations alternate, so each thread refills its pool while
    // the others evaluate.
    const n = this.#threads.length
    let best: SandboxThread | undefined
    for (let i = 0; i < n; i++) {
      const thread = this.#threads[(this.#next + i) % n]!
      if (best === undefined || thread.load < best.load) best = thread
    }
    this.#next = (this.#threads.indexOf(best!) + 1) % n
    return best!.evaluate(plan, startedAt)
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.map((t) => t.close()))
  }
}
