import { describe, expect, it } from 'vitest'
import { CorruptColumnError } from '../errors.js'
import { type PickRow, peekedEventsOf } from './pick-view.js'

const row = (sequence: number, messageId: string) => ({
  id: `e-${sequence}`,
  topic_id: 't-1',
  workflow_id: 'wf-1',
  message_id: messageId,
  title: '',
  payload: '{"i":1}',
  status: 'pending',
  reserved_by_run_id: null,
  created_by_run_id: null,
  attempt_number: 1,
  sequence,
  created_at: 1000,
  updated_at: 1000,
})
const pending = (value: unknown, a: number): PickRow => ({ kind: 'pending', name: 'inbox', a, b: null, text: JSON.stringify(value) })

describe('peekedEventsOf', () => {
  it('orders the events read ahead by sequence and ignores the rest of the view', () => {
    const rows: PickRow[] = [pending(row(9, 'm9'), 9), { kind: 'workflow', name: 'active', a: null, b: null, text: null }, pending(row(3, 'm3'), 3)]
    expect(peekedEventsOf(rows, 'inbox', 5)).toEqual({ topic: 'inbox', limit: 5, events: [row(3, 'm3'), row(9, 'm9')] })
  })

  it('says which value was corrupt when a row read back is not an event', () => {
    const read = () => peekedEventsOf([pending({ ...row(4, 'm4'), sequence: 'four' }, 4)], 'inbox', 1)
    expect(read).toThrow(CorruptColumnError)
    expect(read).toThrow(/events\.row_to_json of row inbox#4/)
    expect(() => peekedEventsOf([{ kind: 'pending', name: 'inbox', a: 2, b: null, text: '{not json' }], 'inbox', 1)).toThrow(/inbox#2/)
  })
})
