import { expect, it } from 'vitest'
import { CorruptColumnError, DbError, readJsonColumn, writeJsonColumn } from './index.js'
import { defineStoreSuite } from './test-helpers/backends.js'
import { NOW, seedWorkflow } from './test-helpers/seed.js'

defineStoreSuite('JSON columns', (env) => {
  it('round-trips a value through a JSON column', async () => {
    const { db } = env()
    await seedWorkflow(db)
    const config = { topics: { inbox: {} }, producers: { poll: { schedule: { interval: '5m' } } }, n: 1.5, ok: true }
    await db.workflows.setActiveScript({ id: 'wf-1', scriptId: 'wf-1-script-1', handlerConfig: writeJsonColumn(config)!, now: NOW })
    const row = await db.workflows.get('wf-1')
    expect(readJsonColumn(row!.handler_config, { table: 'workflows', column: 'handler_config', rowId: 'wf-1' })).toEqual(config)
  })

  it('reads SQL NULL as null and writes undefined as SQL NULL', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.kysely.updateTable('workflows').set({ handler_config: writeJsonColumn(undefined) }).execute()
    const row = await db.workflows.get('wf-1')
    expect(row?.handler_config).toBeNull()
    expect(readJsonColumn(row!.handler_config, { table: 'workflows', column: 'handler_config', rowId: 'wf-1' })).toBeNull()
    expect(writeJsonColumn(null)).toBe('null')
  })

  it('throws CorruptColumnError naming the table, column and row when the stored text is not JSON', async () => {
    const { db } = env()
    await seedWorkflow(db)
    await db.kysely.updateTable('workflows').set({ handler_config: '{"topics": [1, 2' }).where('id', '=', 'wf-1').execute()
    const row = await db.workflows.get('wf-1')
    let error: unknown
    try {
      readJsonColumn(row!.handler_config, { table: 'workflows', column: 'handler_config', rowId: row!.id })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(CorruptColumnError)
    expect(DbError.isInstance(error)).toBe(true)
    expect(error).toMatchObject({ code: 'corrupt_column', table: 'workflows', column: 'handler_config', rowId: 'wf-1' })
    expect((error as Error).message).toMatch(/workflows\.handler_config of row wf-1/)
  })
})
