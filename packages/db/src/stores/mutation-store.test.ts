import { expect, it } from 'vitest'
import type { MutationStatus } from '../index.js'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, mutationRow, runState, seedRun, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('mutation store: transition', (env) => {
  it('returns false and changes nothing when the status is not in from', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.mutations.insert(mutationRow(w, 'm1', { status: 'in_flight' }))
    const before = await db.mutations.get('m1')
    expect(await db.mutations.transition('m1', ['pending', 'failed'], { status: 'applied', result: '1', now: NOW + 1 })).toBe(false)
    expect(await db.mutations.get('m1')).toEqual(before)
  })

  it('applies from one of several statuses and sets only the given fields', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.mutations.insert(mutationRow(w, 'm1'))
    expect(await db.mutations.transition('m1', ['pending'], { status: 'in_flight', now: NOW + 1 })).toBe(true)
    expect(
      await db.mutations.transition('m1', ['pending', 'in_flight'], {
        status: 'indeterminate',
        error: '{"message":"timeout"}',
        errorType: 'indeterminate',
        reconcileAttempts: 2,
        nextReconcileAt: NOW + 60_000,
        now: NOW + 2,
      }),
    ).toBe(true)
    expect(await db.mutations.get('m1')).toMatchObject({
      status: 'indeterminate',
      result: null,
      error: '{"message":"timeout"}',
      error_type: 'indeterminate',
      reconcile_attempts: 2,
      next_reconcile_at: NOW + 60_000,
      updated_at: NOW + 2,
    })
    expect(
      await db.mutations.transition('m1', ['indeterminate'], { status: 'skipped', resolvedBy: 'ops@x', resolvedAt: NOW + 3, now: NOW + 3 }),
    ).toBe(true)
    expect(await db.mutations.get('m1')).toMatchObject({ status: 'skipped', resolved_by: 'ops@x', resolved_at: NOW + 3 })
  })

  it('never changes an applied row, even when from lists applied', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.mutations.insert(mutationRow(w, 'm1', { status: 'applied', result: '{"id":7}' }))
    const before = await db.mutations.get('m1')
    const every: MutationStatus[] = ['pending', 'in_flight', 'applied', 'failed', 'indeterminate', 'skipped']
    for (const to of every) {
      const from = every as never
      expect(await db.mutations.transition('m1', from, { status: to, result: null, now: NOW + 1 })).toBe(false)
      expect(await db.mutations.transition('m1', ['applied'] as never, { status: to, now: NOW + 1 })).toBe(false)
    }
    expect(await db.mutations.get('m1')).toEqual(before)
  })

  it('returns false when from is empty or the row does not exist', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.mutations.insert(mutationRow(w, 'm1'))
    expect(await db.mutations.transition('m1', [], { status: 'in_flight', now: NOW })).toBe(false)
    expect(await db.mutations.transition('nope', ['pending'], { status: 'in_flight', now: NOW })).toBe(false)
    expect((await db.mutations.get('m1'))?.status).toBe('pending')
  })

  it('refuses a resolution with a resolver but no time', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.mutations.insert(mutationRow(w, 'm1', { status: 'indeterminate' }))
    await expect(db.mutations.transition('m1', ['indeterminate'], { status: 'skipped', resolvedBy: 'ops', now: NOW })).rejects.toThrow()
    expect((await db.mutations.get('m1'))?.status).toBe('indeterminate')
  })

  it('lets exactly one of two racing transitions from in_flight apply', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.mutations.insert(mutationRow(w, 'm1', { status: 'in_flight' }))
    const results = await Promise.all([
      db.mutations.transition('m1', ['in_flight'], { status: 'applied', result: '1', now: NOW + 1 }),
      db.mutations.transition('m1', ['in_flight'], { status: 'failed', now: NOW + 1 }),
    ])
    expect(results.sort()).toEqual([false, true])
  })
})

defineStoreSuite('mutation store: reads', (env) => {
  it('finds a row by run, by workflow and by status', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.mutations.insert(mutationRow(w, 'm1', { status: 'indeterminate', created_at: NOW }))
    await db.runs.transition(w.runId, {}, runState('failed'))
    const run2 = await seedRun(db, w, 'run-2', { ordinal: 2 })
    await db.mutations.insert(mutationRow({ ...w, runId: run2 }, 'm2', { status: 'applied', created_at: NOW + 1 }))
    expect((await db.mutations.getByRun(w.runId))?.id).toBe('m1')
    expect(await db.mutations.getByRun('nope')).toBeUndefined()
    expect((await db.mutations.listByWorkflow('wf-1')).map((m) => m.id)).toEqual(['m2', 'm1'])
    expect((await db.mutations.listByWorkflow('wf-1', { status: 'applied' })).map((m) => m.id)).toEqual(['m2'])
    expect((await db.mutations.listByStatus('indeterminate')).map((m) => m.id)).toEqual(['m1'])
  })
})
