/**
 * UNIQUE and FOREIGN KEY constraints of SPEC §3, including the composite keys that keep every row inside one
 * workflow (a script, session, topic or run of another workflow can never be referenced).
 */
import { expect, it } from 'vitest'
import type { LedgerflowDb } from './index.js'
import { expectViolation } from './test-helpers/assertions.js'
import { defineStoreSuite } from './test-helpers/backends.js'
import {
  NOW,
  TOPIC,
  mutationRow,
  publishEvents,
  runRow,
  runState,
  scriptRow,
  seedRun,
  seedWorkflow,
  seedWorld,
  sessionRow,
  sessionState,
} from './test-helpers/seed.js'

const FK = 'foreign_key' as const

function eventValues(db: LedgerflowDb, over: { id: string; topicId: string; workflowId: string; messageId: string; sequence: number }) {
  return db.kysely
    .insertInto('events')
    .values({
      id: over.id,
      topic_id: over.topicId,
      workflow_id: over.workflowId,
      message_id: over.messageId,
      title: 't',
      payload: '{}',
      status: 'pending',
      reserved_by_run_id: null,
      created_by_run_id: null,
      sequence: over.sequence,
      created_at: NOW,
      updated_at: NOW,
    })
    .execute()
}

defineStoreSuite('schema: unique constraints', (env) => {
  it('refuses a second script with the same version in a workflow, but not in another workflow', async () => {
    const { db } = env()
    const a = await seedWorkflow(db, 'wf-a')
    await seedWorkflow(db, 'wf-b')
    await expectViolation(db.scripts.insert(scriptRow(a.workflowId, 'a-dup', { version: 1 })), 'unique', {
      postgres: 'scripts_workflow_version_unique',
      sqlite: 'scripts.workflow_id, scripts.version',
    })
    await db.scripts.insert(scriptRow('wf-b', 'b-v2', { version: 2 }))
    await db.scripts.insert(scriptRow('wf-a', 'a-v2', { version: 2 }))
    expect(await db.scripts.latestVersion('wf-a')).toBe(2)
  })

  it('refuses a second topic with the same name in a workflow, but not in another workflow', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-a')
    await seedWorkflow(db, 'wf-b')
    const row = { id: 't-dup', workflow_id: 'wf-a', name: TOPIC, created_at: NOW }
    await expectViolation(db.kysely.insertInto('topics').values(row).execute(), 'unique', {
      postgres: 'topics_workflow_name_unique',
      sqlite: 'topics.workflow_id, topics.name',
    })
    expect((await db.topics.getByName('wf-b', TOPIC))?.workflow_id).toBe('wf-b')
  })

  it('refuses a second event with the same message id in a topic, but not in another topic', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-1', { topics: [TOPIC, 'other'] })
    const inbox = (await db.topics.getByName('wf-1', TOPIC))!.id
    const other = (await db.topics.getByName('wf-1', 'other'))!.id
    await eventValues(db, { id: 'e1', topicId: inbox, workflowId: 'wf-1', messageId: 'm1', sequence: 1 })
    await expectViolation(eventValues(db, { id: 'e2', topicId: inbox, workflowId: 'wf-1', messageId: 'm1', sequence: 2 }), 'unique', {
      postgres: 'events_topic_message_unique',
      sqlite: 'events.topic_id, events.message_id',
    })
    await eventValues(db, { id: 'e3', topicId: other, workflowId: 'wf-1', messageId: 'm1', sequence: 3 })
  })

  it('refuses two events of a workflow with the same sequence, but not in two workflows', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-a')
    await seedWorkflow(db, 'wf-b')
    const a = (await db.topics.getByName('wf-a', TOPIC))!.id
    const b = (await db.topics.getByName('wf-b', TOPIC))!.id
    await eventValues(db, { id: 'e1', topicId: a, workflowId: 'wf-a', messageId: 'm1', sequence: 7 })
    await expectViolation(eventValues(db, { id: 'e2', topicId: a, workflowId: 'wf-a', messageId: 'm2', sequence: 7 }), 'unique', {
      postgres: 'events_workflow_sequence_unique',
      sqlite: 'events.workflow_id, events.sequence',
    })
    await eventValues(db, { id: 'e3', topicId: b, workflowId: 'wf-b', messageId: 'm1', sequence: 7 })
  })

  it('refuses a second ledger row for one run', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.mutations.insert(mutationRow(w, 'm1'))
    await expectViolation(db.mutations.insert(mutationRow(w, 'm2')), 'unique', {
      postgres: 'mutations_handler_run_id_key',
      sqlite: 'mutations.handler_run_id',
    })
  })

  it('refuses a reused idempotency key, even for another run', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await db.runs.transition(w.runId, {}, runState('failed'))
    const run2 = await seedRun(db, w, 'run-2', { ordinal: 2 })
    await db.mutations.insert(mutationRow(w, 'm1', { idempotency_key: 'k' }))
    await expectViolation(db.mutations.insert(mutationRow({ ...w, runId: run2 }, 'm2', { idempotency_key: 'k' })), 'unique', {
      postgres: 'mutations_idempotency_key_key',
      sqlite: 'mutations.idempotency_key',
    })
    await db.mutations.insert(mutationRow({ ...w, runId: run2 }, 'm3', { idempotency_key: 'k2' }))
  })

  it('refuses a second handler_state row for one workflow and handler', async () => {
    const { db } = env()
    await seedWorkflow(db)
    const row = { workflow_id: 'wf-1', handler_name: 'poll', state: '{}', updated_at: NOW, updated_by_run_id: null }
    await db.kysely.insertInto('handler_state').values(row).execute()
    await expectViolation(db.kysely.insertInto('handler_state').values(row).execute(), 'unique', {
      postgres: 'handler_state_pk',
      sqlite: 'handler_state.workflow_id, handler_state.handler_name',
    })
    await db.kysely.insertInto('handler_state').values({ ...row, handler_name: 'reply' }).execute()
  })

  it('refuses a second log line with the same run and sequence', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    const line = { handler_run_id: w.runId, sequence: 1, timestamp: NOW, phase: 'preparing', level: 'log', message: 'a' } as const
    await db.kysely.insertInto('run_logs').values(line).execute()
    await expectViolation(db.kysely.insertInto('run_logs').values(line).execute(), 'unique', {
      postgres: 'run_logs_pk',
      sqlite: 'run_logs.handler_run_id, run_logs.sequence',
    })
    await db.kysely.insertInto('run_logs').values({ ...line, sequence: 2 }).execute()
  })
})

defineStoreSuite('schema: foreign keys', (env) => {
  it('refuses a script of another workflow as the active script', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-a')
    const b = await seedWorkflow(db, 'wf-b')
    await expectViolation(db.workflows.setActiveScript({ id: 'wf-a', scriptId: b.scriptId, handlerConfig: '{}', now: NOW }), FK)
    await expectViolation(db.workflows.setActiveScript({ id: 'wf-a', scriptId: 'no-such-script', handlerConfig: '{}', now: NOW }), FK)
    expect((await db.workflows.get('wf-a'))?.active_script_id).toBe('wf-a-script-1')
  })

  it('refuses a session that runs a script of another workflow', async () => {
    const { db } = env()
    const a = await seedWorkflow(db, 'wf-a')
    const b = await seedWorkflow(db, 'wf-b')
    const foreign = { workflowId: a.workflowId, scriptId: b.scriptId }
    await expectViolation(db.kysely.insertInto('script_runs').values(sessionRow(foreign, 's1')).execute(), FK)
    await expectViolation(db.sessions.open(sessionRow(foreign, 's2')), FK)
    await db.kysely.insertInto('script_runs').values(sessionRow(a, 's3')).execute()
  })

  it('refuses an event whose topic belongs to another workflow', async () => {
    const { db } = env()
    await seedWorkflow(db, 'wf-a')
    await seedWorkflow(db, 'wf-b')
    const bTopic = (await db.topics.getByName('wf-b', TOPIC))!.id
    await expectViolation(eventValues(db, { id: 'e1', topicId: bTopic, workflowId: 'wf-a', messageId: 'm1', sequence: 1 }), FK)
    await expectViolation(eventValues(db, { id: 'e2', topicId: 'no-such-topic', workflowId: 'wf-a', messageId: 'm1', sequence: 1 }), FK)
  })

  it('refuses a run of an unknown session or of a session of another workflow', async () => {
    const { db } = env()
    const a = await seedWorkflow(db, 'wf-a')
    const b = await seedWorkflow(db, 'wf-b')
    await db.kysely.insertInto('script_runs').values(sessionRow(b, 'sb')).execute()
    await expectViolation(db.runs.insert(runRow({ ...a, sessionId: 'no-such-session' }, 'r1')), FK)
    await expectViolation(db.runs.insert(runRow({ ...a, sessionId: 'sb' }, 'r2')), FK)
  })

  it('refuses a run pinned to a script of another workflow', async () => {
    const { db } = env()
    const a = await seedWorkflow(db, 'wf-a')
    const b = await seedWorkflow(db, 'wf-b')
    await db.kysely.insertInto('script_runs').values(sessionRow(a, 'sa')).execute()
    await expectViolation(db.runs.insert(runRow({ ...a, scriptId: b.scriptId, sessionId: 'sa' }, 'r1')), FK)
  })

  it('refuses a ledger row of a run of another workflow or of no run', async () => {
    const { db } = env()
    const a = await seedWorld(db, 'wf-a')
    await seedWorkflow(db, 'wf-b')
    await expectViolation(db.mutations.insert(mutationRow({ workflowId: 'wf-b', runId: a.runId }, 'm1')), FK)
    await expectViolation(db.mutations.insert(mutationRow({ workflowId: 'wf-a', runId: 'no-such-run' }, 'm2')), FK)
  })

  it('refuses events reserved by or created by an unknown run, and log lines of one', async () => {
    const { db } = env()
    const w = await seedWorld(db)
    await publishEvents(db, w.workflowId, ['m1'])
    await expectViolation(
      db.kysely.updateTable('events').set({ status: 'reserved', reserved_by_run_id: 'ghost' }).execute(),
      FK,
    )
    await expectViolation(publishEvents(db, w.workflowId, ['m2'], { runId: 'ghost' }), FK)
    await expectViolation(
      db.kysely
        .insertInto('run_logs')
        .values({ handler_run_id: 'ghost', sequence: 1, timestamp: NOW, phase: 'x', level: 'log', message: 'm' })
        .execute(),
      FK,
    )
  })

  it('accepts a closed session whose script belongs to its workflow', async () => {
    const { db } = env()
    const a = await seedWorkflow(db, 'wf-a')
    await db.kysely.insertInto('script_runs').values(sessionRow(a, 's', sessionState('completed'))).execute()
    expect((await db.sessions.get('s'))?.status).toBe('completed')
  })
})
