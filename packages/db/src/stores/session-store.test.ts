import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, runState, seedRun, seedSession, seedWorkflow, seedWorld, sessionRow, sessionState } from '../test-helpers/seed.js'

const openRow = (w: { workflowId: string; scriptId: string }, id: string) => {
  const { status: _s, end_timestamp: _e, ...row } = sessionRow(w, id)
  return row
}

defineStoreSuite('session store: open', (env) => {
  it('opens a session and returns true when none is open', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    expect(await db.sessions.open(openRow(w, 's1'))).toBe(true)
    expect(await db.sessions.getOpen('wf-1')).toMatchObject({ id: 's1', status: 'running', end_timestamp: null })
  })

  it('returns the opened session as a read returns it, and nothing when one is already open', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const opened = await db.sessions.openRow(openRow(w, 's1'))
    expect(opened).toEqual(await db.sessions.get('s1'))
    expect(opened).toMatchObject({ id: 's1', status: 'running', end_timestamp: null, handler_run_count: 0, cost: 0 })
    expect(await db.sessions.openRow(openRow(w, 's2'))).toBeUndefined()
    expect(await db.sessions.get('s2')).toBeUndefined()
  })

  it('returns false and inserts nothing when the workflow already has an open session', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await db.sessions.open(openRow(w, 's1'))
    expect(await db.sessions.open(openRow(w, 's2'))).toBe(false)
    expect(await db.sessions.get('s2')).toBeUndefined()
  })

  it('opens exactly one of two sessions opened at once for one workflow', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const results = await Promise.all([db.sessions.open(openRow(w, 's1')), db.sessions.open(openRow(w, 's2'))])
    expect(results.filter(Boolean)).toHaveLength(1)
    expect(await db.sessions.listOpen()).toHaveLength(1)
  })

  it('returns false inside a transaction without aborting it', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await db.sessions.open(openRow(w, 's1'))
    const outcome = await db.transaction(async (tx) => {
      const opened = await tx.sessions.open(openRow(w, 's2'))
      await tx.workflows.setTitle('wf-1', 'still writable', NOW + 1)
      return opened
    })
    expect(outcome).toBe(false)
    expect((await db.workflows.get('wf-1'))?.title).toBe('still writable')
  })
})

defineStoreSuite('session store: close', (env) => {
  it('closes a running session with the sum of its runs cost and their count', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.addCost(w.runId, 300)
    await db.runs.transition(w.runId, {}, runState('committed'))
    await seedRun(db, w, 'r2', { ordinal: 2, ...runState('failed') })
    await db.runs.addCost('r2', 1_200)
    await seedRun(db, w, 'r3', { ordinal: 3, handler_type: 'producer', handler_name: 'poll', ...runState('committed') })
    const closed = await db.sessions.close(w.sessionId, {
      status: 'completed',
      budgetExhausted: 'cost',
      now: NOW + 10,
    })
    expect(closed).toBe(true)
    expect(await db.sessions.get(w.sessionId)).toMatchObject({
      status: 'completed',
      budget_exhausted: 'cost',
      end_timestamp: NOW + 10,
      cost: 1_500,
      handler_run_count: 3,
      owner: null,
      lease_expires_at: null,
    })
    expect(await db.sessions.cost(w.sessionId)).toBe(1_500)
  })

  it('closes a session without runs with zero cost and count', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const sessionId = await seedSession(db, w)
    // A stale stored counter: close recomputes the count from the runs.
    await db.kysely.updateTable('script_runs').set({ handler_run_count: 1 }).where('id', '=', sessionId).execute()
    expect(await db.sessions.close(sessionId, { status: 'failed', error: 'boom', errorType: 'logic', now: NOW + 1 })).toBe(true)
    expect(await db.sessions.get(sessionId)).toMatchObject({ status: 'failed', error: 'boom', error_type: 'logic', cost: 0, handler_run_count: 0 })
    expect(await db.sessions.cost(sessionId)).toBe(0)
  })

  it('returns false and changes nothing when the session is not running', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const sessionId = await seedSession(db, w, 's', sessionState('suspended'))
    const before = await db.sessions.get(sessionId)
    expect(await db.sessions.close(sessionId, { status: 'completed', now: NOW + 5 })).toBe(false)
    expect(await db.sessions.close('nope', { status: 'completed', now: NOW + 5 })).toBe(false)
    expect(await db.sessions.get(sessionId)).toEqual(before)
  })

  it('closes a session once when two closes race', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, runState('committed'))
    const results = await Promise.all([
      db.sessions.close(w.sessionId, { status: 'completed', now: NOW + 1 }),
      db.sessions.close(w.sessionId, { status: 'failed', now: NOW + 2 }),
    ])
    expect(results.filter(Boolean)).toHaveLength(1)
  })

  it('lets a new session open once the previous one is closed', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    await db.sessions.open(openRow(w, 's1'))
    await db.sessions.close('s1', { status: 'completed', now: NOW + 1 })
    expect(await db.sessions.open(openRow(w, 's2'))).toBe(true)
    expect((await db.sessions.listByWorkflow('wf-1')).map((s) => s.id).sort()).toEqual(['s1', 's2'])
  })
})

defineStoreSuite('session store: leases', (env) => {
  it('renews the lease of its owner and refuses another owner', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const id = await seedSession(db, w, 's', { owner: 'worker-1', lease_expires_at: NOW + 30_000 })
    expect(await db.sessions.renewLease(id, 'worker-2', NOW + 90_000)).toBe(false)
    expect((await db.sessions.get(id))?.lease_expires_at).toBe(NOW + 30_000)
    expect(await db.sessions.renewLease(id, 'worker-1', NOW + 60_000)).toBe(true)
    expect((await db.sessions.get(id))?.lease_expires_at).toBe(NOW + 60_000)
  })

  it('refuses renewing the lease of a closed session', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const id = await seedSession(db, w, 's', { ...sessionState('completed'), owner: 'worker-1' })
    expect(await db.sessions.renewLease(id, 'worker-1', NOW + 60_000)).toBe(false)
  })

  it('restamps the start and lease of an open session and leaves a closed one alone', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const open = await seedSession(db, w, 's')
    expect(await db.sessions.stampStart(open, NOW + 5, NOW + 30_005)).toBe(true)
    expect(await db.sessions.get(open)).toMatchObject({ start_timestamp: NOW + 5, lease_expires_at: NOW + 30_005 })
    const closed = await seedSession(db, w, 'closed', sessionState('completed'))
    expect(await db.sessions.stampStart(closed, NOW + 5, NOW + 30_005)).toBe(false)
    expect((await db.sessions.get(closed))?.start_timestamp).toBe(NOW)
  })

  it('takes over a lease only while it is exactly as observed', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const id = await seedSession(db, w, 's', { owner: 'worker-1', lease_expires_at: NOW })
    const takeover = { owner: 'worker-2', leaseExpiresAt: NOW + 30_000 }
    expect(await db.sessions.takeOverLease(id, { ...takeover, expectedOwner: 'worker-3', expectedLeaseExpiresAt: NOW })).toBe(false)
    expect(await db.sessions.takeOverLease(id, { ...takeover, expectedOwner: 'worker-1', expectedLeaseExpiresAt: NOW - 1 })).toBe(false)
    expect(await db.sessions.takeOverLease(id, { ...takeover, expectedOwner: null, expectedLeaseExpiresAt: null })).toBe(false)
    expect(await db.sessions.takeOverLease(id, { ...takeover, expectedOwner: 'worker-1', expectedLeaseExpiresAt: NOW })).toBe(true)
    expect(await db.sessions.get(id)).toMatchObject({ owner: 'worker-2', lease_expires_at: NOW + 30_000 })
    // The first taker's expectations are now stale.
    expect(await db.sessions.takeOverLease(id, { owner: 'worker-3', leaseExpiresAt: NOW + 1, expectedOwner: 'worker-1', expectedLeaseExpiresAt: NOW })).toBe(false)
  })

  it('takes over an ownerless session by expecting nulls, and never a closed one', async () => {
    const { db } = env()
    const a = await seedWorkflow(db, 'wf-a')
    const b = await seedWorkflow(db, 'wf-b')
    const open = await seedSession(db, a, 'open', { owner: null, lease_expires_at: null })
    const closed = await seedSession(db, b, 'closed', { ...sessionState('completed'), owner: null, lease_expires_at: null })
    const takeover = { owner: 'w', leaseExpiresAt: NOW + 1, expectedOwner: null, expectedLeaseExpiresAt: null }
    expect(await db.sessions.takeOverLease(open, takeover)).toBe(true)
    expect(await db.sessions.takeOverLease(closed, takeover)).toBe(false)
  })

  it('lets exactly one of two racing takeovers win', async () => {
    const { db } = env()
    const w = await seedWorkflow(db)
    const id = await seedSession(db, w, 's', { owner: 'dead', lease_expires_at: NOW })
    const expected = { expectedOwner: 'dead', expectedLeaseExpiresAt: NOW }
    const results = await Promise.all([
      db.sessions.takeOverLease(id, { ...expected, owner: 'a', leaseExpiresAt: NOW + 1 }),
      db.sessions.takeOverLease(id, { ...expected, owner: 'b', leaseExpiresAt: NOW + 1 }),
    ])
    expect(results.sort()).toEqual([false, true])
  })

  it('lists open sessions whose lease expired or that have no owner as orphaned', async () => {
    const { db } = env()
    const ids: string[] = []
    for (const [i, lease] of [NOW - 1, NOW, NOW + 1, null].entries()) {
      const w = await seedWorkflow(db, `wf-${i}`)
      ids.push(await seedSession(db, w, `s${i}`, { owner: lease === null ? null : 'x', lease_expires_at: lease, start_timestamp: NOW - 10 + i }))
    }
    const done = await seedWorkflow(db, 'wf-done')
    await seedSession(db, done, 'closed', { ...sessionState('completed'), lease_expires_at: NOW - 5 })
    expect((await db.sessions.listOrphaned(NOW)).map((s) => s.id)).toEqual(['s0', 's1', 's3'])
    expect((await db.sessions.listOpen()).map((s) => s.id)).toEqual(ids)
  })
})
