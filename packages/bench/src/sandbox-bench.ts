/**
 * Micro-benchmark of one sandbox evaluation: create an instance, load a ~200-line workflow script, call a handler
 * that makes 10 host calls and one console.log, dispose. Compared with the same work in plain Node (`new Function`,
 * no isolation) and with a pool of pre-created instances.
 *
 * Run (after building the sandbox and this package):
 *   node --expose-gc packages/bench/dist/sandbox-bench.js [samples]
 * `pnpm bench` runs it too (section `sandbox`), with the engine's own runner as one more variant.
 * Prints one summary line per variant, then one JSON line with every figure.
 */
import { availableParallelism, cpus } from 'node:os'
import { pathToFileURL } from 'node:url'
import { createSandboxRunner, type HostCallHandler, type JsonValue, type SandboxRunner } from '@ledgerflow/sandbox'

const WARMUP = 30

/** A generated workflow script of about 200 lines: helpers, nine filler consumers, and `Inbox` (10 host calls). */
export function workflowScript(): string {
  const lines = [
    '// benchmark workflow script',
    'const LIMITS = { batch: 4, labels: ["urgent", "later", "spam"] };',
    'function clean(message) {',
    '  return { id: String(message.id), topic: message.topic, text: String(message.body || "").trim().slice(0, 160) };',
    '}',
    'function tally(items) {',
    '  const counts = {};',
    '  for (const item of items) counts[item.topic] = (counts[item.topic] || 0) + 1;',
    '  return Object.keys(counts).sort().map((topic) => topic + "=" + counts[topic]).join(" ");',
    '}',
    'function label(text) {',
    '  if (/urgent|asap/i.test(text)) return "urgent";',
    '  return text.length > 100 ? "later" : "normal";',
    '}',
  ]
  for (let i = 0; i < 9; i++) {
    lines.push(
      `const filler${i} = {`,
      `  subscribe: ["topic${i}"],`,
      '  async prepare(state) {',
      `    const events = await Topics.peek({ topic: "topic${i}", limit: LIMITS.batch });`,
      '    const items = events.map(clean).filter((item) => item.text.length > 0);',
      '    return { reservations: [], data: { items, label: label(items.map((item) => item.text).join(" ")) } };',
      '  },',
      '  async mutate(prepared) {',
      '    for (const item of prepared.data.items) {',
      `      await Email.send({ to: "team${i}@example.com", subject: item.id });`,
      '    }',
      '  },',
      '  next(prepared, result) {',
      '    return { sent: prepared.data.items.length, status: result.status };',
      '  },',
      '};',
    )
  }
  lines.push(
    'const workflow = {',
    '  topics: { inbox: {}, alerts: {}, digest: {}, tasks: {}, processed: {} },',
    '  consumers: {',
    '    Filler0: filler0, Filler1: filler1, Filler2: filler2, Filler3: filler3, Filler4: filler4,',
    '    Filler5: filler5, Filler6: filler6, Filler7: filler7, Filler8: filler8,',
    '    Inbox: {',
    '      subscribe: ["inbox", "alerts", "digest", "tasks"],',
    '      async prepare(state) {',
    '        const seen = [];',
    '        for (const topic of ["inbox", "alerts", "digest", "tasks"]) {',
    '          const events = await Topics.peek({ topic, limit: LIMITS.batch });',
    '          seen.push(...events.map(clean));',
    '        }',
    '        for (let i = 0; i < 3; i++) await Topics.publish({ topic: "processed", event: { messageId: "m" + i, title: "t", payload: { n: i } } });',
    '        for (const to of ["a@example.com", "b@example.com"]) await Email.send({ to, subject: tally(seen) });',
    '        await Topics.peek({ topic: "inbox", limit: 1 });',
    '        console.log("prepared", seen.length, "events");',
    '        return { count: seen.length, first: seen.slice(0, 2), summary: tally(seen), cursor: (state?.cursor ?? 0) + 1 };',
    '      },',
    '    },',
    '  },',
    '};',
  )
  // Pad with comment-free helper code up to ~200 lines, as real scripts carry utilities they do not call.
  for (let i = 0; lines.length < 199; i++) lines.push(`function unused${i}(x) { return x * ${i} + 1; }`)
  return lines.join('\n')
}

const SCRIPT = workflowScript()
const GLOBALS = { Topics: ['peek', 'getByIds', 'publish'], Email: ['send'] }

const host: HostCallHandler = async (call) => {
  if (call.method === 'peek') {
    const { topic } = call.input as { topic: string }
    return [0, 1, 2].map((i) => ({ id: `${topic}-${i}`, topic, body: ` hello ${i} ` }))
  }
  return { ok: true }
}

type Sample = () => Promise<void>

function check(value: JsonValue | undefined, cursor: number): void {
  const result = value as { count?: number; cursor?: number } | undefined
  if (result?.count !== 12 || result.cursor !== cursor + 1) throw new Error(`unexpected result ${JSON.stringify(value)}`)
}

function sandboxSample(runner: SandboxRunner): Sample {
  let cursor = 0
  return async () => {
    cursor++
    const outcome = await runner.evaluate({
      code: SCRIPT,
      scriptKey: 'bench-v1',
      handler: { group: 'consumers', name: 'Inbox', method: 'prepare' },
      args: [{ cursor }],
      globals: GLOBALS,
      host,
      onConsole: () => {},
    })
    if (!outcome.ok) throw new Error(`${outcome.error.code}: ${outcome.error.message}`)
    check(outcome.value, cursor)
  }
}

/** The same script and handler in the host realm: `new Function`, tools as plain async functions. */
function plainSample(): Sample {
  let cursor = 0
  const tools = {
    Topics: Object.fromEntries(GLOBALS.Topics.map((m) => [m, (input: JsonValue) => host({ namespace: 'Topics', method: m, input, index: 0 })])),
    Email: { send: (input: JsonValue) => host({ namespace: 'Email', method: 'send', input, index: 0 }) },
    console: { log: () => {} },
  }
  return async () => {
    cursor++
    const factory = new Function('Topics', 'Email', 'console', `${SCRIPT}\n;return workflow;`)
    const workflow = factory(tools.Topics, tools.Email, tools.console)
    const value = JSON.parse(JSON.stringify(await workflow.consumers.Inbox.prepare(JSON.parse(JSON.stringify({ cursor })))))
    check(value, cursor)
  }
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Warm-up, then N timed samples; `idle` yields to the event loop between samples (untimed), as an engine would:
 * `true` for one turn, a number for a pause of that many ms (time for a pool in a worker thread to refill).
 */
async function measure(sample: Sample, idle: boolean | number, samples: number): Promise<{ median: number; p90: number; p99: number }> {
  const times: number[] = []
  for (let i = 0; i < WARMUP + samples; i++) {
    if (idle === true) await yieldToLoop()
    else if (typeof idle === 'number') await pause(idle)
    const start = performance.now()
    await sample()
    const elapsed = performance.now() - start
    if (i >= WARMUP) times.push(elapsed)
  }
  ;(globalThis as { gc?: () => void }).gc?.()
  times.sort((a, b) => a - b)
  const round = (n: number) => Math.round(n * 1000) / 1000
  return { median: round(quantile(times, 0.5)), p90: round(quantile(times, 0.9)), p99: round(quantile(times, 0.99)) }
}

/** One figure of the sandbox micro-benchmark, in ms. */
export type SandboxFigure = { median: number; p90: number; p99: number }

/**
 * Measures one evaluation of the 200-line script in plain Node, without a pool (with and without idle turns of the
 * event loop between samples), with a pool of 2, and on `extra` runners (for example the engine's own; measured
 * after a 3 ms pause, and back to back).
 */
export async function sandboxBench(
  samples: number,
  extra: Record<string, SandboxRunner> = {},
  options: { backToBack?: boolean } = {},
): Promise<Record<string, SandboxFigure>> {
  const backToBack = options.backToBack ?? true
  const results: Record<string, SandboxFigure> = {}
  results['plain-node'] = await measure(plainSample(), true, samples)
  const fresh = createSandboxRunner()
  results['sandbox'] = await measure(sandboxSample(fresh), true, samples)
  if (backToBack) results['sandbox-back-to-back'] = await measure(sandboxSample(fresh), false, samples)
  await fresh.close()
  const pooled = createSandboxRunner({ pool: { size: 2 } })
  await yieldToLoop()
  results['sandbox-pool2'] = await measure(sandboxSample(pooled), true, samples)
  if (backToBack) results['sandbox-pool2-back-to-back'] = await measure(sandboxSample(pooled), false, samples)
  await pooled.close()
  for (const [name, runner] of Object.entries(extra)) {
    results[name] = await measure(sandboxSample(runner), 3, samples)
    if (backToBack) results[`${name}-back-to-back`] = await measure(sandboxSample(runner), false, samples)
  }
  return results
}

async function main(): Promise<void> {
  const samples = Number(process.argv[2] ?? 300)
  const results = await sandboxBench(samples)
  const plain = results['plain-node']?.median ?? Number.NaN
  for (const [name, r] of Object.entries(results)) {
    const ratio = (r.median / plain).toFixed(1)
    console.log(`${name.padEnd(28)} median ${r.median.toFixed(3)} ms  p90 ${r.p90.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  (${ratio}x plain)`)
  }
  const machine = { node: process.version, cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown' }
  console.log(JSON.stringify({ bench: 'sandbox', samples, warmup: WARMUP, scriptLines: SCRIPT.split('\n').length, machine, results }))
}

// Run as a program (`node dist/sandbox-bench.js`), not when `pnpm bench` imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
