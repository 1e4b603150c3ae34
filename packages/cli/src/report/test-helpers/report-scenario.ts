/**
 * A real workflow run for report tests: three sessions (one suspended by a transient error, one completed by the
 * retry, one failed by a logic error), a ledger with applied and failed rows, and hostile text from the "outside
 * world" in titles, payloads and errors.
 */
import { type TestEngine, createTestEngine, recordingTool } from '@ledgerflow/tests/kit'

/** Text an attacker controls, as it would arrive in mail subjects and bodies. */
export const HOSTILE_TITLE = '<script>window.__pwned = 1; alert("x")</script>'
export const HOSTILE_BODY = '<img src=x onerror="window.__pwned = 2">'

const code = `
const workflow = {
  topics: { "mail.in": {}, "mail.sent": {} },
  producers: {
    poll: {
      schedule: { interval: "5m" },
      publishes: ["mail.in"],
      handler: async (state) => {
        const messages = await Inbox.list({ folder: "INBOX" })
        for (const m of messages) await Topics.publish({ topic: "mail.in", event: { messageId: m.id, title: m.subject, payload: m } })
        console.log("published " + messages.length + " message(s)")
        return { seen: ((state && state.seen) || 0) + messages.length }
      },
    },
  },
  consumers: {
    reply: {
      subscribe: ["mail.in"],
      publishes: ["mail.sent"],
      prepare: async () => {
        const [e] = await Topics.peek({ topic: "mail.in", limit: 1 })
        if (!e) return { reservations: [] }
        return { reservations: [{ topic: "mail.in", ids: [e.messageId] }], data: e.payload, ui: { title: "Reply to " + e.title } }
      },
      mutate: async (p) => { await Email.send({ to: p.data.from, subject: "Re: " + p.data.subject, body: p.data.body }) },
      next: async (p, r) => {
        await Topics.publish({ topic: "mail.sent", event: { messageId: "sent-" + p.data.id, title: "Sent to " + p.data.from, payload: r } })
        return { last: p.data.id }
      },
    },
  },
}
`

const batches = [
  [
    { id: 'm1', from: 'alice@example.com', subject: 'Hello', body: 'Hi there' },
    { id: 'm2', from: 'mallory@example.com', subject: HOSTILE_TITLE, body: HOSTILE_BODY },
    { id: 'm3', from: 'bob@example.com', subject: 'Invoice 42', body: 'Please pay' },
  ],
  [{ id: 'm4', from: 'carol@example.com', subject: 'Broken address', body: '?' }],
]

/** Runs the scenario on a fresh test engine; the caller disposes it. */
export async function reportScenario(): Promise<{ env: TestEngine; workflowId: string }> {
  const inbox = recordingTool({ namespace: 'Inbox', name: 'list', kind: 'read', result: (_input, i) => batches[i] ?? [], cost: 200 })
  const email = recordingTool({ namespace: 'Email', name: 'send', kind: 'mutation', cost: 1500 })
  email.script(
    { ok: { messageId: 'smtp-1' } },
    { error: 'network', message: 'SMTP timeout <b>bold</b>', notApplied: true },
    { ok: { messageId: 'smtp-2', note: HOSTILE_BODY } },
    { ok: { messageId: 'smtp-3' } },
    { error: 'logic', message: 'mailbox "carol@example.com" does not exist <script>alert(1)</script>' },
  )
  const env = await createTestEngine({ tools: [inbox.tool, email.tool] })
  const workflowId = 'mail-replies'
  await env.engine.deployWorkflow({ id: workflowId, title: 'Mail replies <em>demo</em>', code })

  await env.clock.advance(1_000)
  await env.engine.runSession(workflowId) // m1 applied; m2 waits for a retry: suspended
  const [waiting] = await env.db.runs.listByWorkflow(workflowId, { status: 'waiting' })
  await env.clock.advanceTo(waiting!.retry_at!)
  await env.engine.runSession(workflowId, { trigger: 'retry' }) // m2 and m3 applied: completed
  await env.clock.advance(5 * 60_000)
  await env.engine.runSession(workflowId, { trigger: 'schedule' }) // m4 fails: the workflow is in error
  await env.clock.advance(30_000)
  return { env, workflowId }
}
