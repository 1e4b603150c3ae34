import { expect, it } from 'vitest'
import { z } from 'zod'
import { defineTool } from '../tools/define-tool.js'
import { checkInvariants, createTestEngine, recordingTool } from '../../../tests/src/kit/index.js'
import { type Backend, describeBackends } from '../../../tests/suite/backends.js'

/**
 * One consumer that peeks `in` (first with `limit: 1`, then, with `again`, with `limit: 5`), reserves the oldest event
 * and sends what it saw. No log line and no publish: on PostgreSQL each run commits in one statement, which then also
 * reads ahead the events the next run's first peek asks for.
 */
const code = (again: boolean) => `
const workflow = {
  topics: { "in": {} },
  producers: {},
  consumers: {
    take: {
      subscribe: ["in"],
      prepare: async () => {
        const first = await Topics.peek({ topic: "in", limit: 1 })
        if (first.length === 0) return { reservations: [], data: null }
        const more = ${again ? 'await Topics.peek({ topic: "in", limit: 5 })' : 'first'}
        return { reservations: [{ topic: "in", ids: [first[0].messageId] }], data: { id: first[0].messageId, saw: more.map((e) => e.messageId), payload: first[0].payload, attempt: first[0].attempt, status: first[0].status } }
      },
      mutate: async (p) => { await Email.send(p.data) },
      next: async () => null,
    },
  },
}
`

async function setup(backend: Backend, again: boolean) {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  const env = await createTestEngine({ ...backend, tools: [email.tool] })
  await env.engine.deployWorkflow({ id: 'wf', title: 'Peek ahead', code: code(again) })
  // Every peek that reached the database (the store's own method, counted where the engine calls it).
  const reads: number[] = []
  const peekPending = env.db.events.peekPending.bind(env.db.events)
  env.db.events.peekPending = (workflowId, topic, limit) => {
    reads.push(limit)
    return peekPending(workflowId, topic, limit)
  }
  return { env, email, reads }
}

const publish = async (env: Awaited<ReturnType<typeof setup>>['env'], ids: string[]) => {
  for (const id of ids) await env.engine.publish('wf', 'in', { messageId: id, title: id, payload: { n: id } })
}

describeBackends('session loop: peeks answered from the events the last commit read ahead', (backend) => {
  const postgres = backend.backend === 'postgres'

  it('answers every run but the first from the commit before it on PostgreSQL, with the same events as a read', async () => {
    const { env, email, reads } = await setup(backend, false)
    await using _ = env
    await publish(env, ['e1', 'e2', 'e3', 'e4'])
    expect((await env.engine.runSession('wf')).status).toBe('completed')
    expect(email.calls.map((c) => c.input)).toEqual(
      ['e1', 'e2', 'e3', 'e4'].map((id) => ({ id, saw: [id], payload: { n: id }, attempt: 1, status: 'pending' })),
    )
    // SQLite reads every time (a read there costs no round trip).
    expect(reads).toEqual(postgres ? [1] : [1, 1, 1, 1])
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('reads the database for a second peek in the same prepare, and for a larger one than was read ahead', async () => {
    const { env, email, reads } = await setup(backend, true)
    await using _ = env
    await publish(env, ['e1', 'e2', 'e3'])
    expect((await env.engine.runSession('wf')).status).toBe('completed')
    expect(email.calls.map((c) => (c.input as { saw: string[] }).saw)).toEqual([['e1', 'e2', 'e3'], ['e2', 'e3'], ['e3']])
    // The first peek asks for 1: read ahead from the second run on; the peek of 5 reads every time.
    expect(reads).toEqual(postgres ? [1, 5, 5, 5] : [1, 5, 1, 5, 1, 5])
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })

  it('answers as at the last commit: an event published after it is seen by the run after (PostgreSQL)', async () => {
    const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
    let published = 0
    // A read tool that publishes e3 when the second run's prepare calls it, before its peek: after the first run's
    // commit read ahead.
    const feed = defineTool({
      namespace: 'Feed',
      name: 'poll',
      kind: 'read',
      description: 'Publishes e3 on its second call.',
      input: z.object({}),
      async execute() {
        if (++published === 2) await env.engine.publish('wf', 'in', { messageId: 'e3', title: 'e3', payload: {} })
        return null
      },
    })
    const env = await createTestEngine({ ...backend, tools: [email.tool, feed] })
    await using _ = env
    await env.engine.deployWorkflow({
      id: 'wf',
      title: 'Peek ahead',
      code: `const workflow = {
        topics: { "in": {} },
        consumers: {
          take: {
            subscribe: ["in"],
            prepare: async () => {
              await Feed.poll({})
              const pending = await Topics.peek({ topic: "in", limit: 5 })
              if (pending.length === 0) return { reservations: [], data: null }
              return { reservations: [{ topic: "in", ids: [pending[0].messageId] }], data: { saw: pending.map((e) => e.messageId) } }
            },
            mutate: async (p) => { await Email.send(p.data) },
            next: async () => null,
          },
        },
      }`,
    })
    await publish(env, ['e1', 'e2'])
    expect((await env.engine.runSession('wf')).status).toBe('completed')
    // The second peek: as the first run's commit saw the topic on PostgreSQL (e2 was then its only pending event, so
    // it answers a limit of 5), as a read sees it now on SQLite. Either way e3 is taken next, once.
    expect(email.calls.map((c) => (c.input as { saw: string[] }).saw)).toEqual([['e1', 'e2'], postgres ? ['e2'] : ['e2', 'e3'], ['e3']])
    expect((await env.db.events.listByWorkflow('wf')).map((e) => `${e.message_id} ${e.status}`)).toEqual(['e1 consumed', 'e2 consumed', 'e3 consumed'])
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
  })
})
