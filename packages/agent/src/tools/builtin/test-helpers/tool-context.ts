import type { ToolContext } from '../../define-tool.js'
import type { Tool } from '../../define-tool.js'

/** A tool context for calling a tool directly in a unit test; log lines are collected in `lines`. */
export function toolContext(overrides: Partial<ToolContext> = {}): ToolContext & { lines: string[] } {
  const lines: string[] = []
  return {
    workflowId: 'wf',
    runId: 'run_1',
    phase: 'mutate',
    signal: new AbortController().signal,
    addCost: () => undefined,
    log: (level, message) => void lines.push(`${level}: ${message}`),
    lines,
    ...overrides,
  }
}

/** The tool of a tool set by method name. */
export function pick(tools: readonly Tool[], name: string): Tool {
  const tool = tools.find((t) => t.name === name)
  if (!tool) throw new Error(`no tool ${name}`)
  return tool
}

/** Calls a tool's execute with parsed input, as the engine does. */
export async function call(tool: Tool, input: unknown, ctx: ToolContext = toolContext()): Promise<unknown> {
  return tool.execute(tool.input.parse(input), ctx)
}

/** Calls a tool's reconcile with parsed input, as the engine does. */
export async function reconcile(tool: Tool, input: unknown, ctx: ToolContext): Promise<unknown> {
  return tool.reconcile!(tool.input.parse(input), ctx)
}
