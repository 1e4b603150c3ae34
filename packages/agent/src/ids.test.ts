import { describe, expect, it } from 'vitest'
import { defaultIds, sequentialIds } from './ids.js'

describe('default ids', () => {
  it('are prefixed by kind, carry 64 random bits, and never repeat across refills of the random bytes', () => {
    const ids = Array.from({ length: 1000 }, () => defaultIds('run'))
    for (const id of ids) expect(id).toMatch(/^run_[0-9a-z]+[0-9a-f]{16}$/)
    expect(new Set(ids).size).toBe(ids.length)
    // The random parts differ too, not only the time.
    expect(new Set(ids.map((id) => id.slice(-16))).size).toBe(ids.length)
    expect(defaultIds('mutation')).toMatch(/^mut_/)
  })
})

describe('sequential ids', () => {
  it('count per kind from 1', () => {
    const next = sequentialIds()
    expect([next('run'), next('run'), next('event')]).toEqual(['run_1', 'run_2', 'evt_1'])
  })
})
