/**
 * The process `runRecovery` kills: it opens a session on each load workflow and stops each right after its first
 * ledger row is committed `in_flight` (the in-process crash leaves the session open and the run mid-mutation), then
 * SIGKILLs itself with every one of those sessions still open. Usage: `open-sessions-child.js <file> <count>`.
 */
import { SimulatedCrash, createEngine } from '@ledgerflow/agent'
import { openDatabase } from '@ledgerflow/db'
import { loadWorkflowIds, sinkTool } from './load-scenario.js'

const [file, count] = process.argv.slice(2)
const db = await openDatabase({ sqlite: file! })
const engine = createEngine({
  db,
  tools: [sinkTool().tool],
  faults(site) {
    if (site.point === 'mutation:after-in-flight') throw new SimulatedCrash(site)
  },
})
let open = 0
for (const id of loadWorkflowIds({ workflows: Number(count), eventsPerWorkflow: 2, batch: 1 })) {
  try {
    await engine.runSession(id)
  } catch (error) {
    if (!SimulatedCrash.isInstance(error)) throw error
    open++
  }
}
process.stdout.write(`${open} sessions open\n`)
process.kill(process.pid, 'SIGKILL')
