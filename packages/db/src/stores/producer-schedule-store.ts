import { type Executor, affected } from '../executor.js'
import type { ProducerSchedule, ScheduleKind } from '../schema.js'

/** A producer's schedule as the engine wants it stored. */
export interface ScheduleDefinition {
  producerName: string
  kind: ScheduleKind
  expression: string
  timezone: string | null
  /** Used only when the row is new or its definition changed. */
  nextRunAt: number
}

/** Persisted per-producer schedules. */
export interface ProducerScheduleStore {
  /**
   * Makes the workflow's rows match `definitions`: new or changed producers get `nextRunAt`, unchanged ones keep
   * their next run time, removed ones are deleted.
   */
  sync(workflowId: string, definitions: readonly ScheduleDefinition[], now: number): Promise<void>
  list(workflowId: string): Promise<ProducerSchedule[]>
  /** Schedules due at `now` of workflows with status `active`. */
  listDue(now: number): Promise<ProducerSchedule[]>
  /** The earliest next run of any active workflow's producer. */
  nextDueAt(): Promise<number | undefined>
  /** Compare-and-set the next run time (guarded by the value read before). */
  advance(
    workflowId: string,
    producerName: string,
    change: { expectedNextRunAt: number; nextRunAt: number; lastRunAt: number | null; now: number },
  ): Promise<boolean>
  /** Makes the named producers (or all) of a workflow due at `now`. */
  makeDue(workflowId: string, now: number, producerNames?: readonly string[]): Promise<number>
}

/** Creates the {@link ProducerScheduleStore} over `db`. */
export function createProducerScheduleStore(db: Executor): ProducerScheduleStore {
  return {
    async sync(workflowId, definitions, now) {
      const existing = await db.selectFrom('producer_schedules').selectAll().where('workflow_id', '=', workflowId).execute()
      const byName = new Map(existing.map((r) => [r.producer_name, r]))
      const keep = new Set(definitions.map((d) => d.producerName))
      const removed = existing.filter((r) => !keep.has(r.producer_name)).map((r) => r.producer_name)
      if (removed.length > 0) {
        await db
          .deleteFrom('producer_schedules')
          .where('workflow_id', '=', workflowId)
          .where('producer_name', 'in', removed)
          .execute()
      }
      for (const d of definitions) {
        const old = byName.get(d.producerName)
        if (old && old.kind === d.kind && old.expression === d.expression && old.timezone === d.timezone) continue
        await db
          .insertInto('producer_schedules')
          .values({
            workflow_id: workflowId,
            producer_name: d.producerName,
            kind: d.kind,
            expression: d.expression,
            timezone: d.timezone,
            next_run_at: d.nextRunAt,
            last_run_at: old?.last_run_at ?? null,
            updated_at: now,
          })
          .onConflict((oc) =>
            oc.columns(['workflow_id', 'producer_name']).doUpdateSet({
              kind: d.kind,
              expression: d.expression,
              timezone: d.timezone,
              next_run_at: d.nextRunAt,
              updated_at: now,
            }),
          )
          .execute()
      }
    },
    list(workflowId) {
      return db.selectFrom('producer_schedules').selectAll().where('workflow_id', '=', workflowId).orderBy('producer_name').execute()
    },
    listDue(now) {
      return db
        .selectFrom('producer_schedules')
        .innerJoin('workflows', 'workflows.id', 'producer_schedules.workflow_id')
        .selectAll('producer_schedules')
        .where('workflows.status', '=', 'active')
        .where('producer_schedules.next_run_at', '<=', now)
        .orderBy('producer_schedules.next_run_at')
        .execute()
    },
    async nextDueAt() {
      const row = await db
        .selectFrom('producer_schedules')
        .innerJoin('workflows', 'workflows.id', 'producer_schedules.workflow_id')
        .select((eb) => eb.fn.min('producer_schedules.next_run_at').as('m'))
        .where('workflows.status', '=', 'active')
        .executeTakeFirst()
      return row?.m === null || row?.m === undefined ? undefined : Number(row.m)
    },
    async advance(workflowId, producerName, change) {
      const r = await db
        .updateTable('producer_schedules')
        .set({ next_run_at: change.nextRunAt, last_run_at: change.lastRunAt, updated_at: change.now })
        .where('workflow_id', '=', workflowId)
        .where('producer_name', '=', producerName)
        .where('next_run_at', '=', change.expectedNextRunAt)
        .executeTakeFirst()
      return affected(r) === 1
    },
    async makeDue(workflowId, now, producerNames) {
      let q = db
        .updateTable('producer_schedules')
        .set({ next_run_at: now, updated_at: now })
        .where('workflow_id', '=', workflowId)
        .where('next_run_at', '>', now)
      if (producerNames) {
        if (producerNames.length === 0) return 0
        q = q.where('producer_name', 'in', producerNames)
      }
      return affected(await q.executeTakeFirst())
    },
  }
}
