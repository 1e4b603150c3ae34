/**
 * Guards the database itself enforces beyond the stores: an applied ledger row never changes (a trigger), and run
 * references on events and handler state stay inside one workflow (composite foreign keys).
 */
import { expect, it } from 'vitest'
import { expectViolation } from './test-helpers/assertions.js'
import { defineStoreSuite } from './test-helpers/backends.js'
import { NOW, mutationRow, publishEvents, seedWorld } from './test-helpers/seed.js'

defineStoreSuite('schema: ledger and run-reference guards', (env) => {
  it('refuses any update of an applied mutation, even one that bypasses the stores', async () => {
    const { db } = env()
    const w = await seedWorld(db, 'wf-a')
    await db.mutations.insert(mutationRow(w, 'mut-1', { status: 'applied', result: '{"ok":true}' }))
    await expect(db.kysely.updateTable('mutations').set({ status: 'failed' }).where('id', '=', 'mut-1').execute()).rejects.toThrow(
      'an applied mutation never changes',
    )
    await expect(db.kysely.updateTable('mutations').set({ result: '{"ok":false}' }).where('id', '=', 'mut-1').execute()).rejects.toThrow(
      'an applied mutation never changes',
    )
    expect(await db.mutations.get('mut-1')).toMatchObject({ status: 'applied', result: '{"ok":true}' })
  })

  it('still lets a mutation that is not applied change', async () => {
    const { db } = env()
    const w = await seedWorld(db, 'wf-a')
    await db.mutations.insert(mutationRow(w, 'mut-1', { status: 'in_flight' }))
    expect(await db.mutations.transition('mut-1', ['in_flight'], { status: 'applied', result: 'null', now: NOW })).toBe(true)
  })

  it('refuses an event reserved by a run of another workflow', async () => {
    const { db } = env()
    await seedWorld(db, 'wf-a')
    const b = await seedWorld(db, 'wf-b')
    await publishEvents(db, 'wf-a', ['m1'])
    await expectViolation(
      db.kysely.updateTable('events').set({ status: 'reserved', reserved_by_run_id: b.runId }).where('workflow_id', '=', 'wf-a').execute(),
      'foreign_key',
      { postgres: 'events_reserved_by_fk' },
    )
  })

  it('refuses an event published by, and a state written by, a run of another workflow', async () => {
    const { db } = env()
    await seedWorld(db, 'wf-a')
    const b = await seedWorld(db, 'wf-b')
    await expectViolation(publishEvents(db, 'wf-a', ['m1'], { runId: b.runId }), 'foreign_key', { postgres: 'events_created_by_fk' })
    await expectViolation(
      db.handlerState.put({ workflowId: 'wf-a', handlerName: 'reply', state: '{}', runId: b.runId, now: NOW }),
      'foreign_key',
      { postgres: 'handler_state_run_fk' },
    )
  })
})
