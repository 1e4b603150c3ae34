import { expect, it } from 'vitest'
import { type RunMove, changedMutation, insertedMutation } from '../index.js'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, mutationRow, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('mutation store: ledger writes that move the run', (env) => {
  const toMutating = (runId: string): RunMove => ({ runId, from: { phase: 'prepared', status: 'active' }, to: { phase: 'mutating' } })
  const toMutated = (runId: string): RunMove => ({ runId, from: { phase: 'mutating', status: 'active' }, to: { phase: 'mutated', attempt: 1 } })

  it('inserts the in_flight row and moves the run when the run is where the move expects it', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, { phase: 'prepared', attempt: 3 })
    const row = mutationRow(w, 'm1', { status: 'in_flight', next_reconcile_at: null, resolved_at: null })
    expect(await db.mutations.insertMoving(row, toMutating(w.runId))).toBe(true)
    expect(await db.mutations.get('m1')).toEqual({ ...row, reconcile_attempts: 0 })
    expect(await db.runs.get(w.runId)).toMatchObject({ phase: 'mutating', status: 'active', attempt: 3 })
  })

  it('writes nothing when the run moved: no ledger row, the run unchanged', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, { phase: 'prepared', status: 'paused' })
    const before = await db.runs.get(w.runId)
    expect(await db.mutations.insertMoving(mutationRow(w, 'm1', { status: 'in_flight' }), toMutating(w.runId))).toBe(false)
    expect(await db.mutations.get('m1')).toBeUndefined()
    expect(await db.runs.get(w.runId)).toEqual(before)
  })

  it('settles the row and moves the run (with its attempt) in one step', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, { phase: 'mutating', attempt: 2 })
    await db.mutations.insert(mutationRow(w, 'm1', { status: 'in_flight' }))
    expect(await db.mutations.transitionMoving({ id: 'm1', from: ['in_flight'], change: { status: 'applied', result: '{"id":7}', now: NOW + 5 }, move: toMutated(w.runId) })).toBe(true)
    expect(await db.mutations.get('m1')).toMatchObject({ status: 'applied', result: '{"id":7}', error: null, updated_at: NOW + 5 })
    expect(await db.runs.get(w.runId)).toMatchObject({ phase: 'mutated', attempt: 1 })
  })

  it('settles the row even when the run is no longer where the move expects it (the run is left as it is)', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, { phase: 'mutating', status: 'paused', attempt: 2 })
    await db.mutations.insert(mutationRow(w, 'm1', { status: 'in_flight' }))
    expect(await db.mutations.transitionMoving({ id: 'm1', from: ['in_flight'], change: { status: 'failed', error: '{"message":"no"}', errorType: 'logic', now: NOW + 5 }, move: toMutated(w.runId) })).toBe(
      true,
    )
    expect(await db.mutations.get('m1')).toMatchObject({ status: 'failed', error_type: 'logic' })
    expect(await db.runs.get(w.runId)).toMatchObject({ phase: 'mutating', status: 'paused', attempt: 2 })
  })

  it('writes nothing when the row is not in a status it may move from: neither the row nor the run', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, { phase: 'mutating' })
    await db.mutations.insert(mutationRow(w, 'm1', { status: 'indeterminate' }))
    const [row, run] = [await db.mutations.get('m1'), await db.runs.get(w.runId)]
    expect(await db.mutations.transitionMoving({ id: 'm1', from: ['in_flight'], change: { status: 'applied', result: '1', now: NOW + 5 }, move: toMutated(w.runId) })).toBe(false)
    expect(await db.mutations.transitionMoving({ id: 'm1', from: [], change: { status: 'applied', result: '1', now: NOW + 5 }, move: toMutated(w.runId) })).toBe(false)
    expect(await db.mutations.get('m1')).toEqual(row)
    expect(await db.runs.get(w.runId)).toEqual(run)
  })

  it('composes into a caller transaction: a rollback undoes both the row and the move', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, { phase: 'prepared' })
    await expect(
      db.transaction(async (tx) => {
        expect(await tx.mutations.insertMoving(mutationRow(w, 'm1', { status: 'in_flight' }), toMutating(w.runId))).toBe(true)
        throw new Error('stop')
      }),
    ).rejects.toThrow('stop')
    expect(await db.mutations.get('m1')).toBeUndefined()
    expect(await db.runs.get(w.runId)).toMatchObject({ phase: 'prepared' })
  })

  it('knows the rows it wrote: insertedMutation and changedMutation equal the rows read back', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, { phase: 'prepared' })
    const full = mutationRow(w, 'm1', { status: 'in_flight', ui_title: 'Send to Alice', next_reconcile_at: null, resolved_at: null })
    expect(await db.mutations.insertMoving(full, toMutating(w.runId))).toBe(true)
    const inserted = insertedMutation(full)
    expect(await db.mutations.get('m1')).toEqual(inserted)
    const change = { status: 'applied' as const, result: '{"ok":true}', now: NOW + 9 }
    expect(await db.mutations.transitionMoving({ id: 'm1', from: ['in_flight'], change, move: toMutated(w.runId) })).toBe(true)
    expect(await db.mutations.get('m1')).toEqual(changedMutation(inserted, change))
    // A row that leaves optional columns out reads back with their defaults.
    const w2 = await seedWorld(db, 'wf-2')
    const { result: _r, error: _e, error_type: _t, ui_title: _u, next_reconcile_at: _n, resolved_by: _b, resolved_at: _a, ...sparse } = mutationRow(w2, 'm2')
    await db.mutations.insert(sparse)
    expect(await db.mutations.get('m2')).toEqual(insertedMutation(sparse))
    const failed = { status: 'failed' as const, error: '{"message":"no"}', errorType: 'logic' as const, now: NOW + 3 }
    expect(await db.mutations.transition('m2', ['pending'], failed)).toBe(true)
    expect(await db.mutations.get('m2')).toEqual(changedMutation(insertedMutation(sparse), failed))
  })
})
