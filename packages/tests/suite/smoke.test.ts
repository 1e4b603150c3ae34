import { expect, it } from 'vitest'
import { checkInvariants, createTestEngine, recordingTool } from '../src/kit/index.js'
import { describeBackends } from './backends.js'

const code = `
const workflow = {
  topics: { "mail.in": {} },
  producers: {
    poll: {
      schedule: { interval: "5m" },
      publishes: ["mail.in"],
      handler: async (state) => {
        const n = (state && state.n) || 0
        for (let i = 0; i < 3; i++) await Topics.publish({ topic: "mail.in", event: { messageId: "m" + (n + i), title: "Mail " + (n + i), payload: { i: n + i } } })
        console.log("published", 3)
        return { n: n + 3 }
      },
    },
  },
  consumers: {
    reply: {
      subscribe: ["mail.in"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "mail.in", limit: 1 })
        if (!e) return { reservations: [] }
        return { reservations: [{ topic: "mail.in", ids: [e.messageId] }], data: e.payload, ui: { title: "Reply to " + e.title } }
      },
      mutate: async (p) => { await Email.send({ to: "x@y", i: p.data.i }) },
      next: async (p, r) => ({ last: p.data.i, status: r.status }),
    },
  },
}
`

describeBackends('smoke', (backend) => {
  it('runs a producer and a consumer end to end', async () => {
    const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
    await using env = await createTestEngine({ ...backend, tools: [email.tool] })
    const d = await env.engine.deployWorkflow({ id: 'wf', title: 'Smoke', code })
    expect(d.version).toBe(1)
    const result = await env.engine.runSession('wf')
    console.log(result, env.events.log.map((e) => e.event).join(','))
    expect(result.status).toBe('completed')
    expect(email.calls).toHaveLength(3)
    const events = await env.db.events.listByWorkflow('wf')
    expect(events.map((e) => e.status)).toEqual(['consumed', 'consumed', 'consumed'])
    expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
    const runs = await env.db.runs.listByWorkflow('wf')
    console.log(runs.map((r) => `${r.handler_name}:${r.phase}:${r.status}`))
    console.log(await env.db.logs.list(runs.at(-1)!.id))
  })
})
