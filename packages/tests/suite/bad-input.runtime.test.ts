/**
 * Scripts that deploy but fail at run time, in every phase (SPEC §8, §13.6): each failure is a classified error
 * naming the handler, the phase and (for script errors) `workflow.js:LINE:COL`; the session fails, the workflow goes
 * to `error`, the events follow the failure policy (untouched before the reservation, released before the mutation,
 * kept after it), and nothing another workflow — or this one — committed before is lost.
 */
import { describe, expect, it } from 'vitest'
import { checkInvariants } from '../src/kit/index.js'
import { badInputEnv, committed, unfinishedRuns, variant } from './bad-input.helpers.js'

interface Case {
  what: string
  code: string
  run: { handler: string; phase: string }
  error: string | RegExp
  /** Events of the workflow afterwards, `messageId:status:attempt`. */
  events: string
  /** Calls of the mutation tool the workflow made. */
  effects: number
}

const PRODUCED = 'm0:pending:1,m1:pending:1'
const RELEASED = 'm0:pending:2,m1:pending:1'
const KEPT = 'm0:reserved:1,m1:pending:1'

const CASES: Case[] = [
  { what: 'a producer that throws', code: variant({ producer: 'const x = 1\n        throw new Error("feed broke")' }), run: { handler: 'gen', phase: 'executing' }, error: /^producer 'gen': Error: feed broke \(workflow\.js:\d+:\d+\)$/, events: '', effects: 0 },
  { what: 'a producer that returns a function', code: variant({ producer: 'return () => 1' }), run: { handler: 'gen', phase: 'executing' }, error: "producer 'gen': TypeError: The handler result is not JSON: the handler returned a function", events: '', effects: 0 },
  { what: 'a producer that returns a BigInt', code: variant({ producer: 'return { n: 10n }' }), run: { handler: 'gen', phase: 'executing' }, error: 'The handler result is not JSON', events: '', effects: 0 },
  { what: 'a producer that peeks at a topic', code: variant({ producer: 'await Topics.peek({ topic: "items" })\n        return {}' }), run: { handler: 'gen', phase: 'executing' }, error: "Topics.peek is not allowed in the producer phase of 'gen'", events: '', effects: 0 },
  { what: 'a producer that publishes to an undeclared topic', code: variant({ producer: 'await Topics.publish({ topic: "nope", event: { messageId: "z" } })\n        return {}' }), run: { handler: 'gen', phase: 'executing' }, error: "'gen' does not declare topic 'nope' in publishes", events: '', effects: 0 },
  { what: 'a prepare that throws', code: variant({ prepare: 'async () => { null.x }' }), run: { handler: 'send', phase: 'preparing' }, error: /^consumer 'send' prepare: TypeError: cannot read property 'x' of null \(workflow\.js:\d+:\d+\)$/, events: PRODUCED, effects: 0 },
  { what: 'a prepare result whose reservations are not an array', code: variant({ prepare: 'async () => ({ reservations: "all" })' }), run: { handler: 'send', phase: 'preparing' }, error: "Consumer 'send' prepare must return { reservations: [{ topic, ids: [messageId, ...] }]", events: PRODUCED, effects: 0 },
  { what: 'a prepare result that is a number', code: variant({ prepare: 'async () => 42' }), run: { handler: 'send', phase: 'preparing' }, error: 'got 42 ((value): Invalid input: expected object, received number)', events: PRODUCED, effects: 0 },
  { what: 'a prepare that calls a mutation tool', code: variant({ prepare: 'async () => { await Out.send({ to: "a", id: "x" }); return { reservations: [] } }' }), run: { handler: 'send', phase: 'preparing' }, error: "Out.send is not allowed in the prepare phase of 'send' (mutation tools may be called once, in mutate)", events: PRODUCED, effects: 0 },
  { what: 'a prepare that publishes', code: variant({ prepare: 'async () => { await Topics.publish({ topic: "items", event: { messageId: "z" } }); return { reservations: [] } }' }), run: { handler: 'send', phase: 'preparing' }, error: "Topics.publish is not allowed in the prepare phase of 'send'", events: PRODUCED, effects: 0 },
  { what: 'a reservation of an unknown messageId', code: variant({ prepare: 'async () => ({ reservations: [{ topic: "items", ids: ["m0", "nope"] }] })' }), run: { handler: 'send', phase: 'preparing' }, error: "Cannot reserve events of topic 'items': 'nope' does not exist. Nothing was reserved.", events: PRODUCED, effects: 0 },
  { what: 'a reservation in a topic it does not subscribe to', code: variant({ prepare: 'async () => ({ reservations: [{ topic: "other", ids: ["m0"] }] })' }), run: { handler: 'send', phase: 'preparing' }, error: "Consumer 'send' prepare reserved events of topic 'other', which it does not subscribe to", events: PRODUCED, effects: 0 },
  { what: 'a mutate that throws before its tool call', code: variant({ mutate: 'async () => { throw new TypeError("bad input") }' }), run: { handler: 'send', phase: 'prepared' }, error: /^consumer 'send' mutate: TypeError: bad input \(workflow\.js:\d+:\d+\)$/, events: RELEASED, effects: 0 },
  { what: 'a mutate that calls a read tool', code: variant({ mutate: 'async () => { await In.read({}) }' }), run: { handler: 'send', phase: 'prepared' }, error: "In.read is not allowed in the mutate phase of 'send'", events: RELEASED, effects: 0 },
  { what: 'a mutate that calls a second mutation', code: variant({ mutate: 'async (p) => { await Out.send({ to: "a", id: p.data.id }); await Out.send({ to: "b", id: p.data.id }) }' }), run: { handler: 'send', phase: 'mutated' }, error: 'mutate makes exactly one mutation and nothing after it', events: KEPT, effects: 1 },
  { what: 'a next that throws after the mutation', code: variant({ next: 'async () => { throw new Error("next broke") }' }), run: { handler: 'send', phase: 'emitting' }, error: /^consumer 'send' next: Error: next broke \(workflow\.js:\d+:\d+\)$/, events: KEPT, effects: 1 },
  { what: 'a next that returns a symbol', code: variant({ next: 'async () => Symbol("x")' }), run: { handler: 'send', phase: 'emitting' }, error: 'The handler result is not JSON: the handler returned a symbol', events: KEPT, effects: 1 },
  { what: 'a next that publishes to an undeclared topic', code: variant({ next: 'async () => { await Topics.publish({ topic: "items", event: { messageId: "z" } }) }' }), run: { handler: 'send', phase: 'emitting' }, error: "'send' does not declare topic 'items' in publishes", events: KEPT, effects: 1 },
]

const matching = (m: string | RegExp) => (typeof m === 'string' ? expect.stringContaining(m) : expect.stringMatching(m))

describe('a script that fails at run time', () => {
  it.each(CASES.map((c) => [c.what, c] as const))('fails the run with a classified logic error on %s, losing nothing committed', async (_what, c) => {
    await using env = await badInputEnv()
    const bystander = await committed(env.db, 'bystander')
    await env.engine.deployWorkflow({ id: 'wf', title: 'Broken', code: c.code })

    const result = await env.engine.runSession('wf')

    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: matching(c.error) })
    expect(await unfinishedRuns(env.db, 'wf')).toEqual([{ ...c.run, status: 'failed', errorType: 'logic', error: matching(c.error) }])
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'error', error_type: 'logic' })
    const events = await env.db.events.listByWorkflow('wf')
    expect(events.map((e) => `${e.message_id}:${e.status}:${e.attempt_number}`).join(',')).toBe(c.events)
    expect(env.out.calls.filter((call) => call.workflowId === 'wf')).toHaveLength(c.effects)
    expect(await committed(env.db, 'bystander')).toEqual(bystander)
    expect(await checkInvariants(env.db, { effects: [env.out] })).toEqual([])
  })
})

describe('tool input failing its schema', () => {
  it('fails the run with the tool usage in the error and records no ledger row', async () => {
    await using env = await badInputEnv()
    await env.engine.deployWorkflow({ id: 'wf', title: 'Bad input', code: variant({ mutate: 'async (p) => { await Out.send({ to: 5 }) }' }) })

    const result = await env.engine.runSession('wf')

    expect(result).toMatchObject({ status: 'failed', errorType: 'logic' })
    const [run] = await unfinishedRuns(env.db, 'wf')
    expect(run?.error).toContain('Invalid input for Out.send: to: Invalid input: expected string, received number; id: Invalid input: expected string, received undefined')
    expect(run?.error).toContain('Usage: Out.send(input): Sends one item to a recipient. Input schema: {')
    expect(run?.error).toMatch(/\(workflow\.js:\d+:\d+\)$/)
    expect(await env.db.mutations.listByWorkflow('wf')).toEqual([])
    expect(env.out.calls.filter((call) => call.workflowId === 'wf')).toEqual([])
    expect(await checkInvariants(env.db, { effects: [env.out] })).toEqual([])
  })
})

describe('reservations the engine refuses', () => {
  it("refuses another workflow's event with the same topic and messageId, reserving nothing", async () => {
    await using env = await badInputEnv()
    await env.engine.deployWorkflow({ id: 'wf', title: 'Thief', code: variant({ producer: 'return {}', prepare: 'async () => ({ reservations: [{ topic: "items", ids: ["m0"] }] })' }) })
    const bystander = await committed(env.db, 'bystander')
    await env.engine.publish('wf', 'items', { messageId: 'own' })

    const result = await env.engine.runSession('wf')

    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringContaining("Cannot reserve events of topic 'items': 'm0' does not exist") })
    expect(await committed(env.db, 'bystander')).toEqual(bystander)
    expect((await env.db.events.listByWorkflow('wf')).map((e) => `${e.message_id}:${e.status}`)).toEqual(['own:pending'])
  })

  it('refuses an event another run still holds, reserving nothing and leaving that run its events', async () => {
    await using env = await badInputEnv()
    // Run 1 fails in next: its reservation of m0 is kept for a retry. An operator then pauses and resumes the
    // workflow (instead of retrying it), and the new version's consumer asks for m0 again.
    await env.engine.deployWorkflow({ id: 'wf', title: 'Holder', code: variant({ next: 'async () => { throw new Error("later") }' }) })
    await env.engine.runSession('wf')
    const holder = (await env.db.events.listByWorkflow('wf')).find((e) => e.message_id === 'm0')
    expect(holder).toMatchObject({ status: 'reserved' })
    await env.engine.deployWorkflow({ id: 'wf', title: 'Holder', code: variant({ producer: 'return undefined', prepare: 'async () => ({ reservations: [{ topic: "items", ids: ["m0", "m1"] }], data: { id: "m0" } })' }) })
    await env.engine.pause('wf')
    await env.engine.resume('wf')

    const result = await env.engine.runSession('wf', { trigger: 'event' })

    expect(result).toMatchObject({ status: 'failed', errorType: 'logic', error: expect.stringContaining("Cannot reserve events of topic 'items': 'm0'") })
    expect(result.error).toContain('Nothing was reserved')
    const events = await env.db.events.listByWorkflow('wf')
    expect(events.map((e) => `${e.message_id}:${e.status}:${e.reserved_by_run_id}`)).toEqual([`m0:reserved:${holder?.reserved_by_run_id}`, 'm1:pending:null'])
    expect(await checkInvariants(env.db, { effects: [env.out] })).toEqual([])
  })
})
