// A worker process for the concurrent-start test: opens the shared SQLite file, waits for "go", tries to start a
// session, and (if it got one) holds it open inside a tool call until the parent says "finish".
import { createEngine, defineTool } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { z } from 'zod'

const [file, name] = process.argv.slice(2)
const db = await openDatabase({ sqlite: file })
let release
const finish = new Promise((resolve) => (release = resolve))
const hold = defineTool({
  namespace: 'Hold',
  name: 'read',
  kind: 'read',
  description: 'Tells the parent the session is open, then waits for it.',
  input: z.unknown(),
  timeoutMs: 60_000,
  async execute() {
    process.send({ type: 'in-session', name })
    await finish
    return null
  },
})
const engine = createEngine({ db, tools: [hold], workerId: `child-${name}` })
process.on('message', async (m) => {
  if (m === 'finish') release()
  if (m !== 'go') return
  try {
    const result = await engine.runSessionIfIdle('wf', { trigger: 'manual' })
    process.send({ type: 'result', name, result })
  } catch (error) {
    process.send({ type: 'result', name, error: String(error) })
  }
  await engine.close()
  await db.close()
  process.exit(0)
})
process.send({ type: 'ready', name })
