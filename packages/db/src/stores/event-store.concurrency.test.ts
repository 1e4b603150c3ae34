/**
 * Reservations are all or nothing under concurrency (SPEC §11): runs reserving overlapping ids at the same moment,
 * from several connections on PostgreSQL (separate pools on one schema), never share an event, and each run gets
 * every id it asked for or none. On SQLite the one connection serializes them, and the same must hold.
 */
import { sql } from 'kysely'
import { expect, it } from 'vitest'
import { type LedgerflowDb, ReservationRejectedError, openDatabase } from '../index.js'
import { POSTGRES_URL, defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, TOPIC, publishEvents, runState, seedRun, seedWorld } from '../test-helpers/seed.js'

const OTHER = 'other'
const RUNS = 12
const EVENTS = 24

/** Four more pools on the test's schema (PostgreSQL), or the test's own handle (SQLite: one connection). */
async function connections(db: LedgerflowDb): Promise<{ handles: LedgerflowDb[]; close(): Promise<void> }> {
  if (db.dialect === 'sqlite') return { handles: [db], close: async () => {} }
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db.kysely)
  const handles = await Promise.all(
    [0, 1, 2, 3].map(() => openDatabase({ postgres: POSTGRES_URL!, schema: rows[0]!.schema, poolSize: 3, migrate: false })),
  )
  return { handles, close: async () => void (await Promise.all(handles.map((h) => h.close()))) }
}

/**
 * Run i asks for three neighbouring ids of the inbox (overlapping runs i-1 and i+1) and two of the other topic,
 * walked in the opposite direction, so two runs may wait on each other's rows (a deadlock PostgreSQL breaks and the
 * transaction re-runs).
 */
function request(round: number, i: number): Array<{ topic: string; ids: string[] }> {
  const at = (n: number) => ((n % EVENTS) + EVENTS) % EVENTS
  const shift = round * 5
  return [
    { topic: TOPIC, ids: [0, 1, 2].map((k) => `m${at(shift + 2 * i + k)}`) },
    { topic: OTHER, ids: [0, 1].map((k) => `o${at(shift + EVENTS - 1 - 2 * i - k)}`) },
  ]
}

defineStoreSuite('event store: concurrent reservations', (env) => {
  it.each([0, 1, 2, 3])(
    'gives every event to at most one run and every run all of its ids or none (round %i)',
    async (round) => {
      const { db } = env()
      const w = await seedWorld(db, 'wf-1', { topics: [TOPIC, OTHER] })
      const ids = Array.from({ length: EVENTS }, (_, n) => n)
      await publishEvents(db, 'wf-1', ids.map((n) => `m${n}`))
      await publishEvents(db, 'wf-1', ids.map((n) => `o${n}`), { topic: OTHER })
      const runs = Array.from({ length: RUNS }, (_, i) => `run-${i}`)
      for (const [i, runId] of runs.entries()) await seedRun(db, w, runId, { ordinal: i + 2, ...runState('failed') })

      const { handles, close } = await connections(db)
      let outcomes: PromiseSettledResult<number>[]
      try {
        outcomes = await Promise.allSettled(
          runs.map((runId, i) =>
            handles[i % handles.length]!.transaction((tx) => tx.events.reserve({ workflowId: 'wf-1', runId, reservations: request(round, i), now: NOW + 1 })),
          ),
        )
      } finally {
        await close()
      }

      const taken = new Map<string, string>()
      for (const [i, runId] of runs.entries()) {
        const asked = request(round, i).flatMap((r) => r.ids).sort()
        const held = (await db.events.listReservedBy(runId)).map((e) => e.message_id).sort()
        const outcome = outcomes[i]!
        if (outcome.status === 'fulfilled') {
          expect(held).toEqual(asked)
          expect(outcome.value).toBe(asked.length)
        } else {
          expect(outcome.reason).toBeInstanceOf(ReservationRejectedError)
          expect(held).toEqual([])
        }
        for (const id of held) {
          expect(taken.get(id), `${id} reserved by ${taken.get(id)} and ${runId}`).toBeUndefined()
          taken.set(id, runId)
        }
      }
      expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true)
      const counts = await db.events.countByStatus('wf-1')
      expect(counts.reserved ?? 0).toBe(taken.size)
      expect((counts.pending ?? 0) + (counts.reserved ?? 0)).toBe(2 * EVENTS)
    },
  )
})
