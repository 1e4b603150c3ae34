/**
 * `db.transaction`: every store function works on the transaction's stores, its writes commit with it and roll back
 * with it when the callback throws.
 */
import { expect, it } from 'vitest'
import type { LedgerflowDb, Stores } from './index.js'
import { RollbackSignal, dumpAll, inRolledBackTransaction } from './test-helpers/assertions.js'
import { defineStoreSuite } from './test-helpers/backends.js'
import {
  NOW,
  TOPIC,
  type World,
  eventId,
  mutationRow,
  newId,
  publishEvents,
  runRow,
  runState,
  scriptRow,
  seedRun,
  seedWorkflow,
  seedWorld,
  sessionRow,
  workflowRow,
} from './test-helpers/seed.js'

/**
 * wf-1: open session, active run holding m1, finished run `other`, m2 pending, m3 dead, a pending ledger row of the
 * run, a `poll` schedule. wf-2: no session.
 */
async function seedEverything(db: LedgerflowDb): Promise<World> {
  const w = await seedWorld(db)
  await seedWorkflow(db, 'wf-2')
  await seedRun(db, w, 'other', { ordinal: 2, ...runState('failed') })
  await publishEvents(db, 'wf-1', ['m1', 'm2', 'm3'])
  await db.events.reserve({ workflowId: 'wf-1', runId: 'other', reservations: [{ topic: TOPIC, ids: ['m3'] }], now: NOW })
  await db.events.release('other', { maxAttempts: 1, now: NOW })
  await db.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m1'] }], now: NOW })
  await db.mutations.insert(mutationRow(w, 'mut-1'))
  await db.schedules.sync('wf-1', [{ producerName: 'poll', kind: 'interval', expression: '5m', timezone: null, nextRunAt: NOW + 100 }], NOW)
  return w
}

const T = NOW + 1_000
const withoutOrdinal = ({ ordinal: _ordinal, ...row }: ReturnType<typeof runRow>) => row
type Write = [name: string, act: (s: Stores, w: World) => Promise<unknown>]

/** One write per store function, each of which changes something in the seeded database. */
const WRITES: Write[] = [
  ['workflows.insert', (s) => s.workflows.insert(workflowRow('wf-new'))],
  ['workflows.transitionStatus', (s) => s.workflows.transitionStatus('wf-1', { from: ['active'], to: 'paused', now: T })],
  ['workflows.setActiveScript', (s) => s.workflows.setActiveScript({ id: 'wf-1', scriptId: 'wf-1-script-1', handlerConfig: '{"changed":true}', now: T })],
  ['workflows.setTitle', (s) => s.workflows.setTitle('wf-1', 'Renamed', T)],
  ['workflows.allocateEventSequence', (s) => s.workflows.allocateEventSequence('wf-1', 5)],
  ['scripts.insert', (s) => s.scripts.insert(scriptRow('wf-1', 'v2', { version: 2 }))],
  ['sessions.open', (s) => s.sessions.open(sessionRow({ workflowId: 'wf-2', scriptId: 'wf-2-script-1' }, 's-new'))],
  ['sessions.close', (s, w) => s.sessions.close(w.sessionId, { status: 'suspended', now: T })],
  ['sessions.stampStart', (s, w) => s.sessions.stampStart(w.sessionId, T, T + 30_000)],
  ['sessions.renewLease', (s, w) => s.sessions.renewLease(w.sessionId, 'worker-1', T + 30_000)],
  [
    'sessions.takeOverLease',
    (s, w) =>
      s.sessions.takeOverLease(w.sessionId, { expectedOwner: 'worker-1', expectedLeaseExpiresAt: NOW + 30_000, owner: 'w2', leaseExpiresAt: T }),
  ],
  ['runs.insert', (s, w) => s.runs.insert(runRow(w, 'r-new', { ordinal: 3, ...runState('failed') }))],
  ['runs.insertNext', (s, w) => s.runs.insertNext(withoutOrdinal(runRow(w, 'r-next', runState('failed'))))],
  ['runs.transition', (s, w) => s.runs.transition(w.runId, { phase: 'preparing' }, { phase: 'prepared' })],
  ['runs.addCost', (s, w) => s.runs.addCost(w.runId, 42)],
  ['logs.append', (s, w) => s.logs.append(w.runId, [{ timestamp: T, phase: 'preparing', level: 'info', message: 'hi' }], { maxLines: 10 })],
  ['mutations.insert', (s, w) => s.mutations.insert(mutationRow({ ...w, runId: 'other' }, 'mut-2'))],
  ['mutations.transition', (s) => s.mutations.transition('mut-1', ['pending'], { status: 'in_flight', now: T })],
  ['handlerState.put', (s, w) => s.handlerState.put({ workflowId: 'wf-1', handlerName: 'reply', state: '{}', runId: w.runId, now: T })],
  ['topics.ensure', (s) => s.topics.ensure('wf-1', ['new-topic'], { now: T, newId })],
  ['events.publish', (s) => publishEvents(s, 'wf-1', ['m9'], { now: T })],
  ['events.reserve', (s, w) => s.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m2'] }], now: T })],
  ['events.consume', (s, w) => s.events.consume(w.runId, T)],
  ['events.skip', (s, w) => s.events.skip(w.runId, T)],
  ['events.release', (s, w) => s.events.release(w.runId, { maxAttempts: 5, now: T })],
  ['events.transfer', (s, w) => s.events.transfer(w.runId, 'other', T)],
  ['events.requeue', (s) => s.events.requeue(eventId('wf-1', 'm3'), T)],
  [
    'schedules.sync',
    (s) => s.schedules.sync('wf-1', [{ producerName: 'digest', kind: 'cron', expression: '0 * * * *', timezone: null, nextRunAt: T }], T),
  ],
  ['schedules.advance', (s) => s.schedules.advance('wf-1', 'poll', { expectedNextRunAt: NOW + 100, nextRunAt: T, lastRunAt: NOW, now: T })],
  ['schedules.makeDue', (s) => s.schedules.makeDue('wf-1', NOW)],
  ['wakeups.set', (s) => s.wakeups.set('wf-1', 'reply', { idleAfterSequence: 3, wakeAt: T, now: T })],
]

defineStoreSuite('db.transaction: every store write', (env) => {
  it.each(WRITES)('commits %s with the transaction', async (_name, act) => {
    const { db } = env()
    const w = await seedEverything(db)
    const before = await dumpAll(db)
    await db.transaction((tx) => act(tx, w))
    expect(await dumpAll(db)).not.toEqual(before)
  })

  it.each(WRITES)('rolls back %s with the transaction when the callback throws', async (_name, act) => {
    const { db } = env()
    const w = await seedEverything(db)
    const before = await dumpAll(db)
    await inRolledBackTransaction(db, (tx) => act(tx, w))
    expect(await dumpAll(db)).toEqual(before)
  })
})

defineStoreSuite('db.transaction: reads and composition', (env) => {
  it('gives the same answers to every read inside a transaction as outside', async () => {
    const { db } = env()
    const w = await seedEverything(db)
    const reads = (s: Stores) =>
      Promise.all([
        s.workflows.get('wf-1'),
        s.workflows.list(),
        s.scripts.get(w.scriptId),
        s.scripts.latestVersion('wf-1'),
        s.scripts.listByWorkflow('wf-1'),
        s.sessions.get(w.sessionId),
        s.sessions.getOpen('wf-1'),
        s.sessions.listByWorkflow('wf-1'),
        s.sessions.listOpen(),
        s.sessions.listOrphaned(NOW + 60_000),
        s.sessions.cost(w.sessionId),
        s.runs.get(w.runId),
        s.runs.listBySession(w.sessionId),
        s.runs.listUnfinished('wf-1'),
        s.runs.listByWorkflow('wf-1'),
        s.runs.countConsumerRuns(w.sessionId),
        s.runs.findRetryOf(w.runId),
        s.logs.list(w.runId),
        s.mutations.get('mut-1'),
        s.mutations.getByRun(w.runId),
        s.mutations.listByWorkflow('wf-1'),
        s.mutations.listByStatus('pending'),
        s.handlerState.get('wf-1', 'reply'),
        s.handlerState.listByWorkflow('wf-1'),
        s.topics.getByName('wf-1', TOPIC),
        s.topics.list('wf-1'),
        s.events.get(eventId('wf-1', 'm1')),
        s.events.peekPending('wf-1', TOPIC, 10),
        s.events.getByMessageIds('wf-1', TOPIC, ['m1', 'm3']),
        s.events.listReservedBy(w.runId),
        s.events.pendingSummary('wf-1'),
        s.events.pendingBounds('wf-1', [TOPIC]),
        s.events.countByStatus('wf-1'),
        s.events.listByWorkflow('wf-1'),
        s.schedules.list('wf-1'),
        s.schedules.listDue(NOW + 100),
        s.schedules.nextDueAt(),
        s.wakeups.list('wf-1'),
      ])
    const outside = await reads(db)
    const inside = await db.transaction((tx) => reads(tx))
    expect(inside).toEqual(outside)
  })

  it('sees its own writes before commit', async () => {
    const { db } = env()
    const w = await seedEverything(db)
    await db.transaction(async (tx) => {
      await publishEvents(tx, 'wf-1', ['m9'])
      expect((await tx.events.peekPending('wf-1', TOPIC, 10)).map((e) => e.message_id)).toEqual(['m2', 'm9'])
      await tx.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m9'] }], now: T })
      expect((await tx.events.listReservedBy(w.runId)).map((e) => e.message_id)).toEqual(['m1', 'm9'])
    })
  })

  it('rolls back a whole handler step (reserve, transition, publish, ledger) together', async () => {
    const { db } = env()
    const w = await seedEverything(db)
    const before = await dumpAll(db)
    await inRolledBackTransaction(db, async (tx) => {
      await tx.events.reserve({ workflowId: 'wf-1', runId: w.runId, reservations: [{ topic: TOPIC, ids: ['m2'] }], now: T })
      await tx.runs.transition(w.runId, { phase: 'preparing' }, { phase: 'prepared', prepare_result: '{}' })
      await publishEvents(tx, 'wf-1', ['m9'])
      await tx.mutations.transition('mut-1', ['pending'], { status: 'in_flight', now: T })
    })
    expect(await dumpAll(db)).toEqual(before)
  })

  it('rolls back everything before a statement that violates a constraint', async () => {
    const { db } = env()
    const w = await seedEverything(db)
    const before = await dumpAll(db)
    await expect(
      db.transaction(async (tx) => {
        await tx.workflows.setTitle('wf-1', 'changed', T)
        await tx.mutations.insert(mutationRow(w, 'dup-ledger-row'))
      }),
    ).rejects.toThrow()
    expect(await dumpAll(db)).toEqual(before)
  })

  it('returns the callback value and stays usable after a rollback', async () => {
    const { db } = env()
    await seedEverything(db)
    await expect(db.transaction(async () => Promise.reject(new RollbackSignal()))).rejects.toBeInstanceOf(RollbackSignal)
    expect(await db.transaction(async (tx) => tx.workflows.setTitle('wf-1', 'after', T))).toBe(true)
    expect((await db.workflows.get('wf-1'))?.title).toBe('after')
  })
})
