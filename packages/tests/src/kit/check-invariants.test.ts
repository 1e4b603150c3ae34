import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { type CrashMatch, type EffectLog, type Violation, type TestEngine, checkInvariants, createTestEngine, ledgerSnapshot, memoryEffectLog, recordingTool } from './index.js'

const CODE = `const workflow = {
  topics: { items: {} },
  producers: { gen: { schedule: { interval: "1h" }, publishes: ["items"], handler: async () => {
    await Topics.publish({ topic: "items", event: { messageId: "m0" } })
    await Topics.publish({ topic: "items", event: { messageId: "m1" } })
    return { n: 2 } } } },
  consumers: { send: { subscribe: ["items"],
    prepare: async () => { const [e] = await Topics.peek({ topic: "items", limit: 1 }); return e ? { reservations: [{ topic: "items", ids: [e.messageId] }], data: { id: e.messageId } } : { reservations: [] } },
    mutate: async (p) => { await Out.send({ id: p.data.id }) },
    next: async (p) => ({ last: p.data ? p.data.id : null }) } },
};`

async function ran(crash?: CrashMatch) {
  const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation' })
  const env = await createTestEngine({ tools: [out.tool] })
  await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
  if (crash) env.crashAt(crash)
  await env.engine.runSession('wf').catch(() => undefined)
  return Object.assign(env, { out })
}

async function sqlOf(env: TestEngine, text: string): Promise<void> {
  await sql.raw(text).execute(env.db.kysely)
}
const violation = (invariant: Violation['invariant'], text: string) => expect.objectContaining({ invariant, message: expect.stringContaining(text) })
type Env = TestEngine & { out: ReturnType<typeof recordingTool> }

/**
 * [what, how the database (or the world) is broken, the violation expected]. The schema already refuses much
 * (applied rows are final, pending events name no run, committed iff phase committed): these are what it allows.
 */
const BROKEN: Array<[string, (env: Env) => Promise<EffectLog | void>, ReturnType<typeof violation>]> = [
  ['an event consumed by a run that did not commit', (env) => sqlOf(env, "update handler_runs set status = 'failed', phase = 'emitting' where handler_name = 'send'"), violation(2, 'is consumed but its run')],
  ['an event published by a run that did not commit', (env) => sqlOf(env, "update handler_runs set status = 'failed', phase = 'executing' where handler_name = 'gen'"), violation(4, 'was published by run')],
  ['a state written by a run that did not commit', (env) => sqlOf(env, "update handler_runs set status = 'failed', phase = 'executing' where handler_name = 'gen'"), violation(4, 'state of wf/gen was written by run')],
  ['a session whose run count is wrong', (env) => sqlOf(env, 'update script_runs set handler_run_count = handler_run_count + 1'), violation(5, 'runs but has')],
  ['an effect applied twice', async (env) => {
    const twice = memoryEffectLog()
    for (const e of env.out.effects.entries()) twice.apply(e.key, e.input)
    twice.apply(env.out.effects.entries()[0]!.key, null)
    return twice
  }, violation(3, 'was applied 2 times')],
  ['an effect with no ledger row', async (env) => {
    const world = memoryEffectLog()
    for (const e of env.out.effects.entries()) world.apply(e.key, e.input)
    world.apply('lf-unrecorded', null)
    return world
  }, violation(3, 'effect lf-unrecorded of Out.send has no ledger row')],
  ['an applied row whose effect never happened', async () => memoryEffectLog(), violation(3, 'is applied but its effect happened 0 times')],
]

describe('checkInvariants', () => {
  it('finds nothing wrong after a clean run, at rest and with the world checked', async () => {
    await using env = await ran()
    expect(await checkInvariants(env.db, { effects: [env.out], previous: await ledgerSnapshot(env.db) })).toEqual([])
  })

  it.each(BROKEN)('reports %s', async (_what, breakIt, expected) => {
    await using env = await ran()
    const world = (await breakIt(env)) ?? env.out.effects
    expect(await checkInvariants(env.db, { effects: [{ tool: 'Out.send', effects: world }] })).toContainEqual(expected)
  })

  it('reports an applied ledger row that differs from a snapshot (the schema refuses the change itself)', async () => {
    await using env = await ran()
    const snapshot = await ledgerSnapshot(env.db)
    const [id, row] = [...snapshot.applied][0]!
    const before = { applied: new Map([...snapshot.applied, [id, { ...row, result: '{"ok":false}' }]]) }
    expect(await checkInvariants(env.db, { previous: before })).toEqual([violation(3, `applied mutation ${id} changed its result`)])
    await expect(sqlOf(env, `update mutations set result = 'x' where id = '${id}'`)).rejects.toThrow('an applied mutation never changes')
  })

  it('reports a failed ledger row whose effect the world shows', async () => {
    const out = recordingTool({ namespace: 'Out', name: 'send', kind: 'mutation', outcomes: [{ error: 'network', notApplied: true }] })
    await using env = await createTestEngine({ tools: [out.tool] })
    await env.engine.deployWorkflow({ id: 'wf', title: 'T', code: CODE })
    await env.engine.runSession('wf')
    const [failed] = await env.db.mutations.listByWorkflow('wf', { status: 'failed' })
    const world = memoryEffectLog()
    world.apply(failed!.idempotency_key, null)
    expect(await checkInvariants(env.db, { quiescent: false, effects: [{ tool: 'Out.send', effects: world }] })).toContainEqual(
      violation(3, `mutation ${failed!.id} (Out.send) is failed but its effect happened 1 times`),
    )
  })

  it('reports a ledger row left in_flight at rest by a crash', async () => {
    await using env = await ran({ point: 'mutation:after-in-flight' })
    expect(await checkInvariants(env.db)).toContainEqual(violation(3, 'is in_flight at rest and its run'))
  })

  it('reports an open session and an active run at rest, but not while the engine may still be running', async () => {
    await using env = await ran({ point: 'run:after-create', phase: 'preparing' })
    expect(await checkInvariants(env.db, { quiescent: false })).toEqual([])
    const atRest = await checkInvariants(env.db)
    expect(atRest).toContainEqual(violation(1, 'has an open session at rest'))
    expect(atRest).toContainEqual(violation(1, 'is active with no owner at rest'))
  })
})
