import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG } from '../config.js'
import {
  type Decision,
  type PolicyContext,
  type RunView,
  failure,
  nextStep,
  prepareOutcome,
  producerOutcome,
} from './transitions.js'

const pc: PolicyContext = { now: 1_000_000, retry: DEFAULT_CONFIG.retry, random: 0.5 }

function run(over: Partial<RunView> = {}): RunView {
  return { handlerType: 'consumer', handlerName: 'reply', phase: 'preparing', status: 'active', attempt: 1, retryAt: null, ...over }
}

const effectTypes = (d: Decision) => d.effects.map((e) => (e.type === 'events' ? `events:${e.action}` : e.type === 'workflow' ? `workflow:${e.to}` : e.type))

describe('nextStep', () => {
  it.each([
    ['producer', 'pending', 'active', { kind: 'start', phase: 'executing' }],
    ['producer', 'executing', 'active', { kind: 'evaluate', phase: 'producer' }],
    ['consumer', 'pending', 'active', { kind: 'start', phase: 'preparing' }],
    ['consumer', 'preparing', 'active', { kind: 'evaluate', phase: 'prepare' }],
    ['consumer', 'mutating', 'active', { kind: 'ledger' }],
    ['consumer', 'mutated', 'active', { kind: 'evaluate', phase: 'next' }],
    ['consumer', 'emitting', 'active', { kind: 'evaluate', phase: 'next' }],
    ['consumer', 'committed', 'committed', { kind: 'done' }],
    ['consumer', 'emitting', 'failed', { kind: 'done' }],
    ['consumer', 'mutating', 'paused', { kind: 'done' }],
  ] as const)('a %s run at %s (%s) goes to %o', (handlerType, phase, status, expected) => {
    expect(nextStep(run({ handlerType, phase, status }), pc.now, { reservations: 0, hasMutate: true })).toEqual(expected)
  })

  it('runs mutate from prepared only when something is reserved and the consumer has mutate', () => {
    const r = run({ phase: 'prepared' })
    expect(nextStep(r, pc.now, { reservations: 2, hasMutate: true })).toEqual({ kind: 'evaluate', phase: 'mutate' })
    expect(nextStep(r, pc.now, { reservations: 0, hasMutate: true })).toEqual({ kind: 'evaluate', phase: 'next' })
    expect(nextStep(r, pc.now, { reservations: 2, hasMutate: false })).toEqual({ kind: 'evaluate', phase: 'next' })
  })

  it('keeps a waiting run waiting until its retry time, then activates it', () => {
    const r = run({ status: 'waiting', retryAt: pc.now + 10 })
    expect(nextStep(r, pc.now, { reservations: 0, hasMutate: true })).toEqual({ kind: 'not-due', retryAt: pc.now + 10 })
    expect(nextStep(r, pc.now + 10, { reservations: 0, hasMutate: true })).toEqual({ kind: 'activate' })
  })
})

describe('failure policy by error class and stage', () => {
  it.each([
    // [type, stage, status, effects]
    ['network', 'before', 'waiting', []],
    ['network', 'after', 'waiting', []],
    ['auth', 'before', 'paused', ['workflow:paused']],
    ['permission', 'after', 'paused', ['workflow:paused']],
    ['logic', 'before', 'failed', ['events:release', 'workflow:error']],
    ['internal', 'before', 'failed', ['events:release', 'workflow:error']],
    ['logic', 'after', 'failed', ['workflow:error']],
    ['internal', 'after', 'failed', ['workflow:error']],
  ] as const)('%s %s the mutation makes the run %s with effects %o', (type, stage, status, effects) => {
    const d = failure(run(), { message: 'boom', type }, stage, 'preparing', pc)
    expect(d.patch.status).toBe(status)
    expect(effectTypes(d)).toEqual(effects)
  })

  it('schedules a network retry with growing backoff and gives up after maxAttempts', () => {
    const first = failure(run({ attempt: 1 }), { message: 'timeout', type: 'network' }, 'before', 'preparing', pc)
    const third = failure(run({ attempt: 3 }), { message: 'timeout', type: 'network' }, 'before', 'preparing', pc)
    expect(first.patch).toMatchObject({ status: 'waiting', attempt: 2 })
    expect(third.patch.retryAt! - pc.now).toBeGreaterThan(first.patch.retryAt! - pc.now)
    const last = failure(run({ attempt: DEFAULT_CONFIG.retry.maxAttempts }), { message: 'timeout', type: 'network' }, 'before', 'preparing', pc)
    expect(last.patch.status).toBe('failed')
    expect(effectTypes(last)).toEqual(['events:release', 'workflow:error'])
  })

  it('never releases reservations of a producer (it has none)', () => {
    const d = failure(run({ handlerType: 'producer', phase: 'executing' }), { message: 'x', type: 'logic' }, 'before', 'executing', pc)
    expect(effectTypes(d)).toEqual(['workflow:error'])
  })
})

describe('producer outcome', () => {
  it('commits with publishes and the new state', () => {
    const d = producerOutcome(run({ handlerType: 'producer', phase: 'executing' }), { ok: true, value: { n: 1 } }, { ok: true, json: '{"n":1}' }, pc)
    expect(d.patch).toMatchObject({ phase: 'committed', status: 'committed', ended: true, outputState: '{"n":1}' })
    expect(effectTypes(d)).toEqual(['publish', 'state'])
  })

  it('keeps the stored state when the handler returns undefined', () => {
    const d = producerOutcome(run({ handlerType: 'producer', phase: 'executing' }), { ok: true, value: undefined }, { ok: true, json: undefined }, pc)
    expect(effectTypes(d)).toEqual(['publish'])
    expect(d.patch.outputState).toBeNull()
  })

  it('fails without publishing when the state is too large', () => {
    const d = producerOutcome(run({ handlerType: 'producer', phase: 'executing' }), { ok: true, value: 1 }, { ok: false, error: { message: 'too big', type: 'logic' } }, pc)
    expect(d.patch.status).toBe('failed')
    expect(effectTypes(d)).not.toContain('publish')
  })
})

describe('prepare outcome', () => {
  const consumer = { subscribe: ['mail'] }

  it('reserves the listed events and stores the prepare result in one checkpoint', () => {
    const d = prepareOutcome(run(), { ok: true, value: { reservations: [{ topic: 'mail', ids: ['m1', 'm2'] }], data: { x: 1 } } }, consumer, 7, pc)
    expect(d.patch).toMatchObject({ phase: 'prepared' })
    expect(JSON.parse(d.patch.prepareResult!)).toMatchObject({ data: { x: 1 } })
    expect(d.effects[0]).toEqual({ type: 'reserve', reservations: [{ topic: 'mail', ids: ['m1', 'm2'] }] })
    expect(d.effects[1]).toEqual({ type: 'wakeup', idleAfterSequence: null, wakeAt: null })
  })

  it('marks the consumer idle up to the sequence it saw when it reserves nothing', () => {
    const d = prepareOutcome(run(), { ok: true, value: { reservations: [{ topic: 'mail', ids: [] }] } }, consumer, 42, pc)
    expect(effectTypes(d)).toEqual(['wakeup'])
    expect(d.effects[0]).toEqual({ type: 'wakeup', idleAfterSequence: 42, wakeAt: null })
  })

  it('accepts wakeAt as epoch ms or an ISO date, never earlier than a second from now', () => {
    const iso = new Date(pc.now + 60_000).toISOString()
    const a = prepareOutcome(run(), { ok: true, value: { reservations: [], wakeAt: iso } }, consumer, 1, pc)
    expect(a.effects.at(-1)).toMatchObject({ wakeAt: pc.now + 60_000 })
    const b = prepareOutcome(run(), { ok: true, value: { reservations: [], wakeAt: pc.now - 5 } }, consumer, 1, pc)
    expect(b.effects.at(-1)).toMatchObject({ wakeAt: pc.now + 1000 })
  })

  it.each([
    ['undefined', undefined],
    ['a string', 'done'],
    ['reservations that are not an array', { reservations: 'm1' }],
    ['ids that are not strings', { reservations: [{ topic: 'mail', ids: [1] }] }],
    ['an unparseable wakeAt', { reservations: [], wakeAt: 'soon' }],
  ])('fails as a logic error when prepare returns %s', (_name, value) => {
    const d = prepareOutcome(run(), { ok: true, value }, consumer, 1, pc)
    expect(d.patch).toMatchObject({ status: 'failed', errorType: 'logic' })
    expect(d.patch.error).toContain("Consumer 'reply' prepare")
  })

  it('refuses reservations in a topic the consumer does not subscribe to', () => {
    const d = prepareOutcome(run(), { ok: true, value: { reservations: [{ topic: 'other', ids: ['x'] }] } }, consumer, 1, pc)
    expect(d.patch.status).toBe('failed')
    expect(d.patch.error).toContain("topic 'other'")
    expect(effectTypes(d)).not.toContain('reserve')
  })
})
