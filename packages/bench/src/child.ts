/**
 * Runs benchmark jobs in their own process and prints `{"results": [...]}` (one entry per job, in order) as the last
 * line of stdout. Each job opens its own fresh database file; between jobs the process collects its garbage.
 * Usage (the orchestrator does this): node --expose-gc dist/child.js '<job json or array of jobs>'
 */
import { type Job, runJob } from './jobs.js'

const input = JSON.parse(process.argv[2] ?? '[]') as Job | Job[]
const jobs = Array.isArray(input) ? input : [input]
try {
  const results: Array<Record<string, number | string>> = []
  for (const job of jobs) {
    ;(globalThis as { gc?: () => void }).gc?.()
    const start = performance.now()
    const result = await runJob(job)
    results.push({ ...result, jobSeconds: Math.round(performance.now() - start) / 1000 })
  }
  process.stdout.write(`${JSON.stringify({ results })}\n`)
  process.exit(0)
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: error instanceof Error ? `${error.message}\n${error.stack}` : String(error) })}\n`)
  process.exit(1)
}
