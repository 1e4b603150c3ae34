/**
 * Where a warm engine's CPU goes, per thread: a pipeline session of N events (FULL, fresh file) after an untimed
 * warm-up session on the same engine, with the CPU time of every thread of the process read from
 * `/proc/self/task/<tid>/stat` before and after (Linux only). Node names every thread `node`, so threads are told
 * apart by role: the main thread (tid = pid), the busiest other thread (the engine's sandbox worker thread), and the
 * rest (V8's garbage collector and compiler threads, libuv).
 *
 * Run (after `pnpm build`), e.g. to compare two builds of a package, alternating:
 *   node --expose-gc packages/bench/dist/thread-cpu.js [events] [warm-up events] [--no-head-start] [--threads=N] [--pool=N] [--caller-pool=N]
 * Prints one JSON line: events/s, CPU ms per event of the process and of each role. `--no-head-start` turns the
 * engine's `headStart` off, for A/B runs of one build.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { runPipelineSession } from './sections/pipeline.js'
import { tempDir } from './lib/temp.js'
import { openEnv, pipelineScript } from './lib/workload.js'

/** CPU ms of every thread of this process, by thread id. */
export function threadCpuMs(): Map<number, number> {
  const ticksPerMs = 100 / 1000 // USER_HZ is 100 on Linux
  const out = new Map<number, number>()
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces); utime and stime are the 14th and 15th fields.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / ticksPerMs)
  }
  return out
}

/** Two readings of {@link threadCpuMs}, the main thread's id and the events between the readings. */
export interface RoleReadings {
  before: Map<number, number>
  after: Map<number, number>
  mainTid: number
  events: number
}

/** Pure; CPU ms per event of the main thread, the busiest other thread and the rest, between two readings. */
export function perRole({ before, after, mainTid, events }: RoleReadings): { main: number; busiestOther: number; rest: number } {
  const used = [...after].map(([tid, ms]) => ({ tid, ms: ms - (before.get(tid) ?? 0) }))
  const main = used.find((u) => u.tid === mainTid)?.ms ?? 0
  const others = used.filter((u) => u.tid !== mainTid).sort((a, b) => b.ms - a.ms)
  const busiestOther = others[0]?.ms ?? 0
  const rest = others.slice(1).reduce((sum, u) => sum + u.ms, 0)
  const per = (ms: number) => Math.round((ms / events) * 100) / 100
  return { main: per(main), busiestOther: per(busiestOther), rest: per(rest) }
}

/** Runs the measurement and returns its figures. */
export async function threadCpu(events: number, warmUp: number, options: { headStart?: boolean; sandboxThreads?: number; sandboxPool?: number; sandboxCallerPool?: number } = {}): Promise<Record<string, number>> {
  const dir = tempDir()
  const engine = { config: { headStart: options.headStart ?? true }, ...(options.sandboxThreads === undefined ? {} : { sandboxThreads: options.sandboxThreads }), ...(options.sandboxPool === undefined ? {} : { sandboxPool: options.sandboxPool }), ...(options.sandboxCallerPool === undefined ? {} : { sandboxCallerPool: options.sandboxCallerPool }) }
  const env = await openEnv(dir.file('thread-cpu.db'), { synchronous: 'FULL', engine })
  try {
    const warm = await env.engine.deployWorkflow({ title: 'warm-up', code: pipelineScript(warmUp) })
    await runPipelineSession(env, { workflowId: warm.workflowId, events: warmUp })
    const { workflowId } = await env.engine.deployWorkflow({ title: 'measured', code: pipelineScript(events) })
    const before = threadCpuMs()
    const figures = await runPipelineSession(env, { workflowId, events })
    const roles = perRole({ before, after: threadCpuMs(), mainTid: process.pid, events })
    return {
      eventsPerSec: figures.eventsPerSec!,
      cpuMsPerEvent: figures.cpuMsPerEvent!,
      mainThreadMsPerEvent: roles.main,
      sandboxThreadMsPerEvent: roles.busiestOther,
      otherThreadsMsPerEvent: roles.rest,
    }
  } finally {
    await env.close()
    dir.remove()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2)
  const numbers = args.filter((a) => !a.startsWith('--'))
  const events = Number(numbers[0] ?? 400)
  const warmUp = Number(numbers[1] ?? 60)
  const threads = args.find((a) => a.startsWith('--threads='))
  const sandboxThreads = threads === undefined ? undefined : Number(threads.slice('--threads='.length))
  const pool = args.find((a) => a.startsWith('--pool='))
  const sandboxPool = pool === undefined ? undefined : Number(pool.slice('--pool='.length))
  const callerPool = args.find((a) => a.startsWith('--caller-pool='))
  const sandboxCallerPool = callerPool === undefined ? undefined : Number(callerPool.slice('--caller-pool='.length))
  console.log(JSON.stringify(await threadCpu(events, warmUp, { headStart: !args.includes('--no-head-start'), sandboxThreads, sandboxPool, sandboxCallerPool })))
}
