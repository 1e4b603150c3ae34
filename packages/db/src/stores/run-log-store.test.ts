import { expect, it } from 'vitest'
import { defineStoreSuite } from '../test-helpers/backends.js'
import { NOW, seedWorld } from '../test-helpers/seed.js'

defineStoreSuite('run log store', (env) => {
  const line = (message: string) => ({ timestamp: NOW, phase: 'preparing', level: 'log', message }) as const

  it('appends lines after the last one, in order', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    expect(await db.logs.append(w.runId, [line('a'), line('b')], { maxLines: 10 })).toBe(2)
    expect(await db.logs.append(w.runId, [line('c')], { maxLines: 10 })).toBe(1)
    expect(await db.logs.append(w.runId, [], { maxLines: 10 })).toBe(0)
    expect((await db.logs.list(w.runId)).map((l) => [l.sequence, l.message])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ])
  })

  it('drops lines past the cap and says so once', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    expect(await db.logs.append(w.runId, [line('a'), line('b')], { maxLines: 3 })).toBe(2)
    expect(await db.logs.append(w.runId, [line('c'), line('d'), line('e')], { maxLines: 3 })).toBe(2)
    expect(await db.logs.append(w.runId, [line('f')], { maxLines: 3 })).toBe(0)
    const lines = await db.logs.list(w.runId)
    expect(lines.map((l) => l.message).slice(0, 3)).toEqual(['a', 'b', 'c'])
    expect(lines).toHaveLength(4)
    expect(lines[3]).toMatchObject({ sequence: 4, level: 'warn', message: expect.stringContaining('log limit of 3 lines') })
  })
})
