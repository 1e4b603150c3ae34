import { expect, it } from 'vitest'
import { z } from 'zod'
import { checkInvariants, createTestEngine, recordingTool } from '../../../tests/src/kit/index.js'
import { type Backend, describeBackends } from '../../../tests/suite/backends.js'
import { defineTool } from '../tools/define-tool.js'

/** A consumer whose prepare asks the operator to pause the workflow (through a read tool) before it reserves. */
const code = `
const workflow = {
  topics: { "in": {} },
  producers: {},
  consumers: {
    send: {
      subscribe: ["in"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "in", limit: 1 })
        if (!e) return { reservations: [] }
        if (e.messageId.startsWith("pause-")) await Operator.pause({})
        return { reservations: [{ topic: "in", ids: [e.messageId] }], data: { id: e.messageId } }
      },
      mutate: async (p) => { await Email.send({ id: p.data.id }) },
      next: async (p, m) => ({ last: p.data.id }),
    },
  },
}
`

async function setup(backend: Backend, headStart: boolean) {
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation' })
  const holder: { pause?: () => Promise<void> } = {}
  let pauses = 0
  // An operator's pause, committed while prepare runs: before the prepared checkpoint is written.
  const pause = defineTool({
    namespace: 'Operator',
    name: 'pause',
    kind: 'read',
    description: 'Pauses the workflow, as an operator would.',
    input: z.object({}),
    async execute() {
      pauses++
      await holder.pause!()
      return null
    },
  })
  const env = await createTestEngine({ ...backend, tools: [email.tool, pause], config: { headStart }, sandboxThreads: 0 })
  holder.pause = () => env.engine.pause('wf')
  await env.engine.deployWorkflow({ id: 'wf', title: 'Pause at a checkpoint', code })
  return { env, email, pauses: () => pauses }
}

describeBackends('an operator pause seen at the prepared checkpoint', (backend) => {
  for (const headStart of [true, false]) {
    it(`stops the run at prepared without its mutation, and makes it once after resume (head start ${headStart ? 'on' : 'off'})`, async () => {
      const { env, email, pauses } = await setup(backend, headStart)
      await using _ = env
      await env.engine.publish('wf', 'in', { messageId: 'pause-1', title: 'p', payload: {} })
      const result = await env.engine.runSession('wf')
      expect(result).toMatchObject({ status: 'suspended' })
      expect(pauses()).toBe(1)
      expect(email.calls).toEqual([])
      const [run] = await env.db.runs.listByWorkflow('wf')
      expect(run).toMatchObject({ phase: 'prepared', status: 'paused', error: 'workflow is paused' })
      expect(await env.db.mutations.getByRun(run!.id)).toBeUndefined()

      await env.engine.resume('wf')
      expect(await env.engine.runSession('wf')).toMatchObject({ status: 'completed' })
      expect(email.calls.map((c) => c.input)).toEqual([{ id: 'pause-1' }])
      expect(await env.db.runs.get(run!.id)).toMatchObject({ status: 'committed', output_state: JSON.stringify({ last: 'pause-1' }) })
      expect(await checkInvariants(env.db, { effects: [email.effects] })).toEqual([])
    })
  }
})
