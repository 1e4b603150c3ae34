import type { Event } from '@ledgerflow/db'
import { describe, expect, it } from 'vitest'
import { PeekAhead, READ_AHEAD_MAX, answersPeek } from './peek-ahead.js'

const event = (n: number): Event => ({
  id: `e-${n}`,
  topic_id: 't',
  workflow_id: 'wf',
  message_id: `m${n}`,
  title: '',
  payload: '{}',
  status: 'pending',
  reserved_by_run_id: null,
  created_by_run_id: null,
  attempt_number: 1,
  sequence: n,
  created_at: 0,
  updated_at: 0,
})
const ready = (limit: number, count: number) => ({ topic: 'in', limit, events: Array.from({ length: count }, (_, i) => event(i + 1)) })

describe('PeekAhead', () => {
  it('answers a peek of the same topic up to the limit read ahead, and any limit when fewer events were pending', () => {
    expect(answersPeek(ready(3, 3), 'in', 2)).toBe(true)
    expect(answersPeek(ready(3, 3), 'in', 3)).toBe(true)
    expect(answersPeek(ready(3, 3), 'in', 4)).toBe(false)
    expect(answersPeek(ready(3, 1), 'in', 100)).toBe(true)
    expect(answersPeek(ready(3, 0), 'in', 10)).toBe(true)
    expect(answersPeek(ready(3, 3), 'other', 1)).toBe(false)
  })

  it('answers the first peek only, with at most its limit, and reads the database for the next one', () => {
    const peeks = new PeekAhead(ready(3, 3))
    expect(peeks.peek('in', 2)?.map((e) => e.message_id)).toEqual(['m1', 'm2'])
    expect(peeks.peek('in', 2)).toBeUndefined()
  })

  it('reads the database when the events read ahead cannot answer, or when none were', () => {
    expect(new PeekAhead(ready(1, 1)).peek('in', 5)).toBeUndefined()
    expect(new PeekAhead(ready(1, 1)).peek('other', 1)).toBeUndefined()
    expect(new PeekAhead().peek('in', 1)).toBeUndefined()
  })

  it('asks the commit to read ahead what the first peek asked, up to the default limit', () => {
    const peeks = new PeekAhead()
    expect(peeks.readAhead).toBeUndefined()
    peeks.peek('in', 7)
    peeks.peek('other', 2)
    expect(peeks.readAhead).toEqual({ topic: 'in', limit: 7 })
    const large = new PeekAhead()
    large.peek('in', READ_AHEAD_MAX + 1)
    expect(large.readAhead).toBeUndefined()
  })
})
