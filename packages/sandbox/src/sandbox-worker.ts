/**
 * Entry of a sandbox worker thread (see `worker-runner.ts`). The thread owns a pool of never-used instances, refilled
 * only while no evaluation runs here, so instance creation (and the garbage collection of spent WebAssembly
 * memories) happens off the calling thread and off the evaluations' critical path. Each evaluation runs in a
 * never-used instance: a new one, or with `recycle` one reset in place to the image of a never-used instance.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { runPlan } from './run-plan.js'
import type { EvaluationPlan } from './evaluation-plan.js'
import type { HostReply } from './host-calls.js'
import { InstancePool } from './instance-pool.js'
import { useCompiledModule } from './quickjs-instance.js'
import type { FromWorker, SandboxWorkerData, ToWorker } from './worker-protocol.js'

if (parentPort === null) throw new Error('sandbox-worker.js runs as a worker thread only')
const port = parentPort
const data = workerData as SandboxWorkerData
useCompiledModule(data.quickjs)

/** Evaluations running in this thread, by id. */
const running = new Map<number, { controller: AbortController; replies: Map<number, (reply: HostReply) => void> }>()
const pool = new InstancePool(data.memoryLimitBytes, data.poolSize, { busy: () => running.size > 0, inFlight: () => running.size, recycle: data.recycle, preload: data.preload })
const post = (message: FromWorker) => port.postMessage(message)

function start(id: number, slot: number, remote: Extract<ToWorker, { t: 'eval' }>['plan']): void {
  const controller = new AbortController()
  const replies = new Map<number, (reply: HostReply) => void>()
  running.set(id, { controller, replies })
  const plan: EvaluationPlan = {
    ...remote,
    host: async () => undefined,
    reply: (call) =>
      new Promise<HostReply>((resolve) => {
        replies.set(call.index, resolve)
        post({ t: 'host', id, call })
      }),
    onConsole: (level, message) => post({ t: 'console', id, level, message }),
    signal: controller.signal,
    // The guest may be busy (no message gets through): the interrupt handler reads the calling thread's flag.
    isAborted: slot < 0 ? undefined : () => Atomics.load(data.abortFlags, slot) === 1,
  }
  void runPlan(plan, undefined, pool).then((outcome) => {
    running.delete(id)
    post({ t: 'done', id, outcome })
    pool.refillSoon()
  })
}

port.on('message', (message: ToWorker) => {
  switch (message.t) {
    case 'eval':
      return start(message.id, message.slot, message.plan)
    case 'reply': {
      const replies = running.get(message.id)?.replies
      const resolve = replies?.get(message.call)
      replies?.delete(message.call)
      return resolve?.(message.reply)
    }
    case 'abort':
      return running.get(message.id)?.controller.abort()
  }
})
