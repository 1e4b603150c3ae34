import { expect, it } from 'vitest'
import { prepareQuery, preparedFamily } from './prepared-query.js'
import { defineStoreSuite } from './test-helpers/backends.js'
import { NOW, seedWorld } from './test-helpers/seed.js'

defineStoreSuite('prepared queries', (env) => {
  it('builds a query once and runs it with new arguments each time, in and out of transactions', async () => {
    const { db } = env()
    await seedWorld(db)
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'a', state: '{"n":1}', runId: null, now: NOW })
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'b', state: '{"n":2}', runId: null, now: NOW + 1 })
    let builds = 0
    const stateOf = prepareQuery(2, (q, workflowId: string, name: string) => {
      builds++
      return q.selectFrom('handler_state').select(['handler_name', 'state']).where('workflow_id', '=', workflowId).where('handler_name', '=', name)
    })
    expect(await stateOf.first(db.kysely, 'wf-1', 'a')).toEqual({ handler_name: 'a', state: '{"n":1}' })
    expect(await stateOf.rows(db.kysely, 'wf-1', 'b')).toEqual([{ handler_name: 'b', state: '{"n":2}' }])
    expect(await stateOf.first(db.kysely, 'wf-1', 'missing')).toBeUndefined()
    const inTransaction = await db.kysely.transaction().execute((trx) => stateOf.first(trx, 'wf-1', 'b'))
    expect(inTransaction).toEqual({ handler_name: 'b', state: '{"n":2}' })
    expect(builds).toBe(1)
  })

  it('counts the rows an update changed, binding constants the query was built with', async () => {
    const { db } = env()
    await seedWorld(db)
    await db.handlerState.put({ workflowId: 'wf-1', handlerName: 'a', state: null, runId: null, now: NOW })
    const stamp = prepareQuery(2, (q, name: string, at: number) =>
      q.updateTable('handler_state').set({ updated_at: at }).where('workflow_id', '=', 'wf-1').where('handler_name', '=', name),
    )
    expect(await stamp.affected(db.kysely, 'a', NOW + 5)).toBe(1)
    expect(await stamp.affected(db.kysely, 'nobody', NOW + 6)).toBe(0)
    expect((await db.handlerState.get('wf-1', 'a'))?.updated_at).toBe(NOW + 5)
  })

  it('keeps one compiled query per shape of a family, and forgets them all when the family is full', async () => {
    const { db } = env()
    await seedWorld(db)
    for (const name of ['a', 'b', 'c']) await db.handlerState.put({ workflowId: 'wf-1', handlerName: name, state: null, runId: null, now: NOW })
    const builds: number[] = []
    const byNames = preparedFamily<{ handler_name: string }>(2)
    const names = (list: string[]) =>
      byNames
        .of(String(list.length), list.length, (q, ...slots) => {
          builds.push(list.length)
          return q.selectFrom('handler_state').select('handler_name').where('handler_name', 'in', slots as string[]).orderBy('handler_name')
        })
        .rows(db.kysely, ...list)
    expect(await names(['a'])).toEqual([{ handler_name: 'a' }])
    expect(await names(['c', 'b'])).toEqual([{ handler_name: 'b' }, { handler_name: 'c' }])
    expect(await names(['b'])).toEqual([{ handler_name: 'b' }])
    expect(builds).toEqual([1, 2])
    // A third shape fills the family past its limit of 2: it starts over, so length 1 is built again.
    expect(await names(['a', 'b', 'c'])).toHaveLength(3)
    expect(await names(['c'])).toEqual([{ handler_name: 'c' }])
    expect(builds).toEqual([1, 2, 3, 1])
  })

  it('refuses a query that does not use an argument as a value, naming the argument and the SQL', async () => {
    const { db } = env()
    const careless = prepareQuery(1, (q, _id: string) => q.selectFrom('workflows').selectAll().where('id', '=', 'fixed'))
    await expect(careless.first(db.kysely, 'wf-1')).rejects.toThrow(/argument 0 is not a parameter of "select \* from "workflows" where "id" = /)
  })
})
