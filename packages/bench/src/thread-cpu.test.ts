import { describe, expect, it } from 'vitest'
import { perRole, threadCpuMs } from './thread-cpu.js'

describe('thread CPU by role', () => {
  it('splits CPU per event into the main thread, the busiest other thread and the rest', () => {
    const before = new Map([[100, 1000], [101, 50], [102, 10], [103, 0]])
    const after = new Map([[100, 1600], [101, 850], [102, 110], [103, 100], [104, 40]])
    expect(perRole({ before, after, mainTid: 100, events: 100 })).toEqual({ main: 6, busiestOther: 8, rest: 2.4 })
  })

  it.skipIf(process.platform !== 'linux')('reads a CPU time for the calling thread from /proc (Linux only)', () => {
    const readings = threadCpuMs()
    expect(readings.has(process.pid)).toBe(true)
    expect(readings.get(process.pid)).toBeGreaterThanOrEqual(0)
  })
})
