import type { Executor } from '../executor.js'
import type { LogLevel, RunLog } from '../schema.js'

/** One log line to append. */
export interface LogLine {
  timestamp: number
  phase: string
  level: LogLevel
  message: string
}

/** Append-only log lines of runs, capped per run. */
export interface RunLogStore {
  /**
   * Appends lines after the run's last one. Past `maxLines` lines per run, further lines are dropped and one
   * `warn` line says so. Returns how many lines were written.
   */
  append(runId: string, lines: readonly LogLine[], options: { maxLines: number }): Promise<number>
  list(runId: string): Promise<RunLog[]>
}

/** Creates the {@link RunLogStore} over `db`. */
export function createRunLogStore(db: Executor): RunLogStore {
  return {
    async append(runId, lines, { maxLines }) {
      if (lines.length === 0) return 0
      const row = await db
        .selectFrom('run_logs')
        .select((eb) => eb.fn.max('sequence').as('m'))
        .where('handler_run_id', '=', runId)
        .executeTakeFirst()
      const last = Number(row?.m ?? 0)
      // One slot past the cap is reserved for the "truncated" note, written once.
      if (last > maxLines) return 0
      const room = maxLines - last
      const kept = lines.slice(0, Math.max(0, room))
      const values = kept.map((line, i) => ({ handler_run_id: runId, sequence: last + i + 1, ...line }))
      if (kept.length < lines.length) {
        const at = lines[kept.length]!
        values.push({
          handler_run_id: runId,
          sequence: last + kept.length + 1,
          timestamp: at.timestamp,
          phase: at.phase,
          level: 'warn',
          message: `log limit of ${maxLines} lines per run reached; further lines are dropped`,
        })
      }
      if (values.length > 0) await db.insertInto('run_logs').values(values).execute()
      return values.length
    },
    list(runId) {
      return db.selectFrom('run_logs').selectAll().where('handler_run_id', '=', runId).orderBy('sequence').execute()
    },
  }
}
