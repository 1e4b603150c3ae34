/**
 * Recovery: a copy of a template where a dead worker left `sessions` open sessions, each with an unfinished consumer
 * run (in `preparing`) and one pending event; `engine.recover({ force: true })` takes every lease over, finishes the
 * runs and closes the sessions.
 */
import { round } from '../lib/stats.js'
import { tempDir } from '../lib/temp.js'
import { type Synchronous, openEnv } from '../lib/workload.js'

/** Parameters of a recovery run. */
export interface RecoveryParams {
  template: string
  sessions: number
  synchronous: Synchronous
}

/** Time to resume every open session. */
export async function recovery(params: RecoveryParams): Promise<Record<string, number>> {
  const dir = tempDir()
  const env = await openEnv(dir.copyTemplate(params.template, 'recovery.db'), { synchronous: params.synchronous })
  try {
    ;(globalThis as { gc?: () => void }).gc?.()
    const start = performance.now()
    const report = await env.engine.recover({ force: true })
    const totalMs = performance.now() - start
    const completed = report.resumed.filter((r) => r.result.status === 'completed').length
    if (completed !== params.sessions) throw new Error(`recovery completed ${completed} of ${params.sessions} sessions`)
    const consumed = await env.db.kysely.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'consumed').executeTakeFirst()
    if (Number(consumed?.n) !== params.sessions) throw new Error(`recovery consumed ${consumed?.n} of ${params.sessions} events`)
    return { totalMs: round(totalMs, 1), msPerSession: round(totalMs / params.sessions), sessions: params.sessions }
  } finally {
    await env.close()
    dir.remove()
  }
}
