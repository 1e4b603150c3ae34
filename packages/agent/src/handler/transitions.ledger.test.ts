import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG } from '../config.js'
import {
  type Decision,
  type LedgerView,
  type PolicyContext,
  type RunView,
  ledgerOutcome,
  mutateOutcome,
  nextOutcome,
  reconcileOutcome,
} from './transitions.js'

const pc: PolicyContext = { now: 1_000_000, retry: DEFAULT_CONFIG.retry, random: 0.5 }
const run = (over: Partial<RunView> = {}): RunView => ({
  handlerType: 'consumer',
  handlerName: 'send',
  phase: 'mutating',
  status: 'active',
  attempt: 1,
  retryAt: null,
  ...over,
})
const ledger = (over: Partial<LedgerView> = {}): LedgerView => ({
  status: 'in_flight',
  errorType: null,
  error: null,
  result: null,
  reconcileAttempts: 0,
  ...over,
})
const types = (d: Decision) => d.effects.map((e) => (e.type === 'events' ? `events:${e.action}` : e.type === 'workflow' ? `workflow:${e.to}` : e.type === 'ledger' ? `ledger:${e.change.status}` : e.type))

describe('after mutate: the ledger decides', () => {
  it('goes to next with none when mutate called no tool', () => {
    expect(mutateOutcome(run({ phase: 'prepared' }), undefined, { ok: true, value: 1 }, pc)).toEqual({ kind: 'next', mutation: { status: 'none' } })
  })

  it('releases reservations when mutate throws before any tool call', () => {
    const after = mutateOutcome(run({ phase: 'prepared' }), undefined, { ok: false, error: { message: 'x', type: 'logic' } }, pc)
    expect(after.kind).toBe('decide')
    if (after.kind === 'decide') expect(types(after.decision)).toEqual(['events:release', 'workflow:error'])
  })

  it('goes to next with the tool result when the row is applied', () => {
    expect(mutateOutcome(run(), ledger({ status: 'applied', result: { id: 7 } }), { ok: true, value: undefined }, pc)).toEqual({
      kind: 'next',
      mutation: { status: 'applied', result: { id: 7 } },
    })
  })

  it('keeps reservations when the script fails after an applied mutation', () => {
    const after = mutateOutcome(run(), ledger({ status: 'applied' }), { ok: false, error: { message: 'second call', type: 'logic' } }, pc)
    expect(after.kind).toBe('decide')
    if (after.kind === 'decide') {
      expect(after.decision.patch).toMatchObject({ status: 'failed', phase: 'mutated' })
      expect(types(after.decision)).toEqual(['workflow:error'])
    }
  })

  it('reconciles an in_flight row even if the script caught the tool error', () => {
    expect(mutateOutcome(run(), ledger({ status: 'in_flight', errorType: 'network' }), { ok: true, value: 1 }, pc)).toEqual({ kind: 'reconcile' })
  })

  it.each([
    ['logic', 'failed', ['events:release', 'workflow:error']],
    ['internal', 'failed', ['events:release', 'workflow:error']],
    ['auth', 'paused', ['workflow:paused']],
    ['permission', 'paused', ['workflow:paused']],
  ] as const)('handles a definite %s failure of the call: run %s', (errorType, status, effects) => {
    const after = ledgerOutcome(run(), ledger({ status: 'failed', errorType, error: 'nope' }), pc)
    expect(after.kind).toBe('decide')
    if (after.kind === 'decide') {
      expect(after.decision.patch.status).toBe(status)
      expect(types(after.decision)).toEqual(effects)
    }
  })

  it('retries a network failure that did not apply in a new run with backoff', () => {
    const after = ledgerOutcome(run({ attempt: 2 }), ledger({ status: 'failed', errorType: 'network' }), pc)
    expect(after.kind).toBe('decide')
    if (after.kind === 'decide') {
      expect(after.decision.patch.status).toBe('failed')
      expect(after.decision.effects[0]).toMatchObject({ type: 'retry-run', phase: 'prepared', status: 'waiting', attempt: 3 })
    }
  })

  it('parks an indeterminate row and pauses the run and workflow', () => {
    const after = ledgerOutcome(run(), ledger({ status: 'indeterminate' }), pc)
    if (after.kind !== 'decide') throw new Error('expected a decision')
    expect(after.decision.patch).toMatchObject({ status: 'paused', errorType: 'indeterminate' })
    expect(types(after.decision)).toEqual(['ledger:indeterminate', 'workflow:paused'])
  })

  it('hands a skipped row to next as skipped', () => {
    expect(ledgerOutcome(run(), ledger({ status: 'skipped' }), pc)).toEqual({ kind: 'next', mutation: { status: 'skipped' } })
  })
})

describe('reconciliation', () => {
  it('settles applied: ledger applied and the run moves to mutated', () => {
    const d = reconcileOutcome(run(), ledger(), { kind: 'applied', resultJson: '{"ok":1}' }, 3, pc)
    expect(d.patch).toMatchObject({ phase: 'mutated' })
    expect(d.effects).toEqual([{ type: 'ledger', change: { status: 'applied', result: '{"ok":1}', reconcileAttempts: 1, nextReconcileAt: null } }])
  })

  it('settles not_applied: ledger failed and the mutation is retried in a new run', () => {
    const d = reconcileOutcome(run(), ledger(), { kind: 'not_applied' }, 3, pc)
    expect(types(d)).toEqual(['ledger:failed', 'retry-run'])
  })

  it('waits and tries again while attempts remain, then parks the row indeterminate', () => {
    const waiting = reconcileOutcome(run(), ledger({ reconcileAttempts: 0 }), { kind: 'unknown', reason: 'timeout' }, 3, pc)
    expect(waiting.patch).toMatchObject({ status: 'waiting', phase: 'mutating' })
    expect(types(waiting)).toEqual(['ledger:in_flight'])
    const parked = reconcileOutcome(run(), ledger({ reconcileAttempts: 2 }), { kind: 'unknown', reason: 'timeout' }, 3, pc)
    expect(parked.patch).toMatchObject({ status: 'paused', errorType: 'indeterminate' })
    expect(types(parked)).toEqual(['ledger:indeterminate', 'workflow:paused'])
  })

  it('parks the row at once when the tool cannot reconcile', () => {
    const d = reconcileOutcome(run(), ledger(), { kind: 'no-reconcile', reason: 'no reconcile' }, 3, pc)
    expect(d.patch.status).toBe('paused')
  })
})

describe('next outcome', () => {
  it('commits: events consumed, publishes and state written', () => {
    const d = nextOutcome(run({ phase: 'mutated' }), { ok: true, value: { seen: 1 } }, { ok: true, json: '{"seen":1}' }, { status: 'applied', result: null }, pc)
    expect(d.patch).toMatchObject({ phase: 'committed', status: 'committed' })
    expect(types(d)).toEqual(['events:consume', 'publish', 'state'])
  })

  it('ends the events skipped when the operator skipped the mutation', () => {
    const d = nextOutcome(run({ phase: 'mutated' }), { ok: true, value: undefined }, { ok: true, json: undefined }, { status: 'skipped' }, pc)
    expect(types(d)).toEqual(['events:skip', 'publish'])
  })

  it('keeps reservations when next fails', () => {
    const d = nextOutcome(run({ phase: 'mutated' }), { ok: false, error: { message: 'bug', type: 'logic' } }, { ok: true, json: undefined }, { status: 'none' }, pc)
    expect(d.patch).toMatchObject({ status: 'failed', phase: 'emitting' })
    expect(types(d)).toEqual(['workflow:error'])
  })
})
