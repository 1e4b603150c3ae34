/**
 * Bad data read back from storage (SPEC §13.6): a JSON column that no longer parses fails only the run that reads it,
 * as `internal`, with a message naming table, column and row; a ledger row whose recorded input is unreadable is
 * parked for a person (its outcome cannot be checked); a file that is not a database and a schema newer than the
 * code are refused before anything is touched.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MIGRATION_TABLE, openDatabase } from '@ledgerflow/db'
import { sql } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { checkInvariants } from '../src/kit/index.js'
import { badInputEnv, committed, unfinishedRuns } from './bad-input.helpers.js'
import { GOOD } from './bad-input.helpers.js'

const BROKEN = '{broken'
const dir = mkdtempSync(join(tmpdir(), 'ledgerflow-storage-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('a corrupted JSON column', () => {
  it('fails the producer run internal when handler_state.state is corrupt, naming table, column and row', async () => {
    await using env = await badInputEnv()
    await env.engine.deployWorkflow({ id: 'wf', title: 'State', code: GOOD })
    await env.engine.runSession('wf')
    await env.db.kysely.updateTable('handler_state').set({ state: BROKEN }).where('workflow_id', '=', 'wf').where('handler_name', '=', 'gen').execute()
    const before = await committed(env.db, 'wf')
    const bystander = await committed(env.db, 'bystander')

    const result = await env.engine.runSession('wf')

    expect(result).toMatchObject({ status: 'failed', errorType: 'internal', error: expect.stringContaining('Corrupt value in handler_state.state of row wf/gen') })
    expect(await unfinishedRuns(env.db, 'wf')).toEqual([expect.objectContaining({ handler: 'gen', status: 'failed', errorType: 'internal' })])
    const after = await committed(env.db, 'wf')
    expect({ events: after.events, states: after.states, mutations: after.mutations }).toEqual({ events: before.events, states: before.states, mutations: before.mutations })
    expect(await committed(env.db, 'bystander')).toEqual(bystander)
  })

  it('fails the consumer run internal when its handler_state.state is corrupt, before prepare, and loses no event', async () => {
    await using env = await badInputEnv()
    await env.engine.deployWorkflow({ id: 'wf', title: 'Consumer state', code: GOOD })
    expect(await env.engine.runSession('wf', { maxIterations: 1 })).toMatchObject({ status: 'completed', budgetExhausted: 'iterations' })
    await env.db.kysely.updateTable('handler_state').set({ state: BROKEN }).where('workflow_id', '=', 'wf').where('handler_name', '=', 'send').execute()
    const before = await committed(env.db, 'wf')

    const result = await env.engine.runSession('wf', { trigger: 'event' })

    expect(result).toMatchObject({ status: 'failed', errorType: 'internal', error: expect.stringContaining('Corrupt value in handler_state.state of row wf/send') })
    expect(await unfinishedRuns(env.db, 'wf')).toEqual([expect.objectContaining({ handler: 'send', phase: 'preparing', status: 'failed', errorType: 'internal' })])
    expect(env.out.calls.filter((c) => c.workflowId === 'wf').map((c) => c.input)).toEqual([{ to: 'ops', id: 'm0' }])
    const after = await committed(env.db, 'wf')
    expect({ events: after.events, mutations: after.mutations }).toEqual({ events: before.events, mutations: before.mutations })
    expect((await env.db.events.listByWorkflow('wf')).map((e) => `${e.message_id}:${e.status}`)).toEqual(['m0:consumed', 'm1:pending'])
  })

  it('fails the consumer run internal when an events.payload it peeks at is corrupt, and loses no event', async () => {
    await using env = await badInputEnv()
    await env.engine.deployWorkflow({ id: 'wf', title: 'Payload', code: GOOD })
    await env.engine.runSession('wf', { maxIterations: 0 })
    const [first] = await env.db.events.listByWorkflow('wf')
    await env.db.kysely.updateTable('events').set({ payload: BROKEN }).where('id', '=', first!.id).execute()

    const result = await env.engine.runSession('wf', { trigger: 'event' })

    expect(result).toMatchObject({ status: 'failed', errorType: 'internal', error: expect.stringContaining(`Corrupt value in events.payload of row ${first!.id}`) })
    expect(await unfinishedRuns(env.db, 'wf')).toEqual([expect.objectContaining({ handler: 'send', phase: 'preparing', status: 'failed', errorType: 'internal' })])
    const events = await env.db.events.listByWorkflow('wf')
    expect(events.map((e) => `${e.message_id}:${e.status}:${e.attempt_number}`)).toEqual(['m0:pending:1', 'm1:pending:1'])
    expect(await checkInvariants(env.db, { effects: [env.out] })).toEqual([])
  })

  it('fails the resumed run internal when its handler_runs.prepare_result is corrupt, keeping its events', async () => {
    await using env = await badInputEnv()
    await env.engine.deployWorkflow({ id: 'wf', title: 'Prepared', code: GOOD })
    env.crashAt({ point: 'run:after-checkpoint', phase: 'prepared' })
    await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
    const [run] = await env.db.runs.listUnfinished('wf')
    await env.db.kysely.updateTable('handler_runs').set({ prepare_result: BROKEN }).where('id', '=', run!.id).execute()
    await env.restart()

    const report = await env.engine.recover({ force: true })

    expect(report.resumed[0]?.result).toMatchObject({ status: 'failed', errorType: 'internal', error: expect.stringContaining(`Corrupt value in handler_runs.prepare_result of row ${run!.id}`) })
    expect(await env.db.runs.get(run!.id)).toMatchObject({ status: 'failed', error_type: 'internal' })
    expect((await env.db.events.listByWorkflow('wf')).map((e) => `${e.message_id}:${e.status}`)).toEqual(['m0:reserved', 'm1:pending'])
    expect(env.out.calls.filter((c) => c.workflowId === 'wf')).toEqual([])
    expect(await checkInvariants(env.db, { effects: [env.out] })).toEqual([])
  })

  it('parks an in_flight mutation whose mutations.params is corrupt as indeterminate, naming table, column and row', async () => {
    await using env = await badInputEnv()
    await env.engine.deployWorkflow({ id: 'wf', title: 'Params', code: GOOD })
    env.crashAt({ point: 'mutation:after-in-flight' })
    await expect(env.engine.runSession('wf')).rejects.toThrow('simulated crash')
    const [ledger] = await env.db.mutations.listByWorkflow('wf')
    await env.db.kysely.updateTable('mutations').set({ params: BROKEN }).where('id', '=', ledger!.id).execute()
    await env.restart()

    const report = await env.engine.recover({ force: true })

    // The call may or may not have happened and cannot be checked: a person decides (never sent again blindly).
    expect(report.resumed[0]?.result).toMatchObject({ status: 'suspended' })
    expect(await env.db.mutations.get(ledger!.id)).toMatchObject({ status: 'indeterminate' })
    expect(await env.db.runs.get(ledger!.handler_run_id)).toMatchObject({
      status: 'paused',
      error_type: 'indeterminate',
      error: expect.stringContaining(`Corrupt value in mutations.params of row ${ledger!.id}`),
    })
    expect(await env.db.workflows.get('wf')).toMatchObject({ status: 'paused', error_type: 'indeterminate' })
    expect(env.out.calls.filter((c) => c.workflowId === 'wf')).toEqual([])
    expect(await checkInvariants(env.db, { effects: [env.out] })).toEqual([])

    await env.engine.resolveMutation(ledger!.id, 'not_applied')
    await env.engine.runSession('wf', { trigger: 'event' })
    expect((await env.db.events.listByWorkflow('wf')).map((e) => e.status)).toEqual(['consumed', 'consumed'])
  })
})

describe('a file that is not a ledgerflow database', () => {
  it('refuses a file that is not SQLite with NotADatabaseError and leaves it as it was', async () => {
    const file = join(dir, 'notes.db')
    writeFileSync(file, 'These are my notes, not a database.\n'.repeat(200))
    const before = readFileSync(file)

    await expect(openDatabase({ sqlite: file })).rejects.toMatchObject({
      name: 'NotADatabaseError',
      code: 'not_a_database',
      type: 'internal',
      message: `${file} is not a SQLite database (or it is encrypted or corrupt).`,
    })
    expect(readFileSync(file).equals(before)).toBe(true)
  })

  it('refuses a database migrated by newer code with SchemaTooNewError, and its data stays readable', async () => {
    const file = join(dir, 'newer.db')
    const db = await openDatabase({ sqlite: file })
    await db.workflows.insert({ id: 'kept', title: 'Kept', status: 'draft', active_script_id: null, handler_config: null, error: null, error_type: null, consumer_sleep_until: null, created_at: 1, updated_at: 1 })
    await sql`insert into ${sql.table(MIGRATION_TABLE)} (name, timestamp) values ('9999-from-the-future', '2099-01-01T00:00:00.000Z')`.execute(db.kysely)
    await db.close()

    await expect(openDatabase({ sqlite: file })).rejects.toMatchObject({
      name: 'SchemaTooNewError',
      code: 'schema_too_new',
      type: 'internal',
      unknownMigrations: ['9999-from-the-future'],
      message: expect.stringContaining('newer than this version of ledgerflow'),
    })
    const raw = await openDatabase({ sqlite: file, migrate: false })
    expect(await raw.workflows.get('kept')).toMatchObject({ title: 'Kept' })
    await raw.close()
  })
})
