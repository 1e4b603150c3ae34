import { describe, expect, it } from 'vitest'
import { type EvalPhase, type Operation, checkOperation } from './phase-gate.js'

const access = { handler: 'h', subscribe: ['in'], publishes: ['out'] }
const ops: Record<string, Operation> = {
  read: { kind: 'read', tool: 'Files.read' },
  mutation: { kind: 'mutation', tool: 'Email.send' },
  peek: { kind: 'peek', tool: 'Topics.peek', topic: 'in' },
  publish: { kind: 'publish', tool: 'Topics.publish', topic: 'out' },
}

// The table of SPEC §5, row by row.
const table: Array<[keyof typeof ops, Record<EvalPhase, boolean>]> = [
  ['read', { producer: true, prepare: true, mutate: false, next: false }],
  ['mutation', { producer: false, prepare: false, mutate: true, next: false }],
  ['peek', { producer: false, prepare: true, mutate: false, next: false }],
  ['publish', { producer: true, prepare: false, mutate: false, next: true }],
]

describe('phase gate', () => {
  for (const [op, allowed] of table) {
    for (const phase of ['producer', 'prepare', 'mutate', 'next'] as const) {
      it(`${allowed[phase] ? 'allows' : 'refuses'} ${op} in ${phase}`, () => {
        const d = checkOperation(phase, ops[op]!, { mutationCalled: false }, access)
        expect(d.allowed).toBe(allowed[phase])
        if (!d.allowed) expect(d.message).toContain(phase)
      })
    }
  }

  it('refuses every tool call in mutate after the mutation call', () => {
    const d = checkOperation('mutate', ops.mutation!, { mutationCalled: true }, access)
    expect(d).toEqual({ allowed: false, message: expect.stringContaining('exactly one mutation') })
  })

  it('refuses peeking a topic the handler does not subscribe to', () => {
    const d = checkOperation('prepare', { kind: 'peek', tool: 'Topics.peek', topic: 'other' }, { mutationCalled: false }, access)
    expect(d).toEqual({ allowed: false, message: expect.stringContaining("does not subscribe to topic 'other'") })
  })

  it('refuses publishing to a topic not declared in publishes', () => {
    const d = checkOperation('next', { kind: 'publish', tool: 'Topics.publish', topic: 'in' }, { mutationCalled: false }, access)
    expect(d).toEqual({ allowed: false, message: expect.stringContaining("does not declare topic 'in'") })
  })
})
