import { readFile } from 'node:fs/promises'
import { createEngine, createFileTools } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { tools as chatTools } from './tools.mjs'

const db = await openDatabase({ sqlite: 'orders.db' })
const engine = createEngine({ db, tools: [...createFileTools({ root: '.' }), ...chatTools] })
engine.on('mutation:applied', (e) => console.log(`applied ${e.tool} (${e.mutationId})`))

const code = await readFile(new URL('./workflow.js', import.meta.url), 'utf8')
await engine.deployWorkflow({ id: 'orders', title: 'Order announcements', code })
const result = await engine.runSession('orders')
console.log(`session ${result.status}, cost ${await engine.sessionCost(result.sessionId)} microdollars`)

await engine.close()
await db.close()
