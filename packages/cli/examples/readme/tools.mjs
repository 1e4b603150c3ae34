// A custom tool module for `ledgerflow --tools ./tools.mjs`: Chat.post, a stand-in for a chat API that appends
// messages to a JSON-lines file (CHAT_LOG, default ./chat.jsonl).
import { appendFile, readFile } from 'node:fs/promises'
import { LogicError, PermissionError, defineTool } from '@ledgerflow/agent'
import { z } from 'zod'

const log = () => process.env.CHAT_LOG ?? 'chat.jsonl'

async function findByKey(key) {
  const text = await readFile(log(), 'utf8').catch(() => '')
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line)).find((m) => m.key === key)
}

export const tools = [
  defineTool({
    namespace: 'Chat',
    name: 'post',
    kind: 'mutation',
    description: 'Posts a message to a chat channel.',
    input: z.object({ channel: z.string(), text: z.string() }),
    output: z.object({ messageId: z.string() }),
    title: (input) => `post to #${input.channel}`,
    async execute(input, ctx) {
      if (input.text.trim() === '') throw new LogicError('Chat.post: text is empty')
      // The idempotency key is stable for this ledger entry: a real API would get it as a header.
      const existing = await findByKey(ctx.idempotencyKey)
      if (existing) return { messageId: existing.messageId }
      const messageId = `msg-${Date.now().toString(36)}`
      try {
        await appendFile(log(), `${JSON.stringify({ key: ctx.idempotencyKey, messageId, ...input })}\n`)
      } catch (error) {
        // Classify what you know; anything unclassified counts as an internal error.
        if (error.code === 'EACCES') throw new PermissionError(`Chat.post: cannot write ${log()}`, { notApplied: true })
        throw error
      }
      return { messageId }
    },
    // Asked when a call's outcome is unknown (a crash or a timeout during the call).
    async reconcile(input, ctx) {
      const found = await findByKey(ctx.idempotencyKey)
      return found ? { status: 'applied', result: { messageId: found.messageId } } : { status: 'not_applied' }
    },
  }),
]
