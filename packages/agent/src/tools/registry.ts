import type { Tool } from './define-tool.js'

/** The built-in Topics namespace and its methods. */
export const TOPICS_METHODS = ['peek', 'getByIds', 'publish'] as const

/** Tools by `Namespace.name`, and the globals a sandbox must expose. */
export interface ToolRegistry {
  get(namespace: string, name: string): Tool | undefined
  /** Every namespace with its methods, `Topics` included. */
  readonly globals: Readonly<Record<string, readonly string[]>>
  readonly tools: readonly Tool[]
}

/** Builds a registry; two tools with one id are refused. */
export function createToolRegistry(tools: readonly Tool[]): ToolRegistry {
  const byId = new Map<string, Tool>()
  const globals: Record<string, string[]> = { Topics: [...TOPICS_METHODS] }
  for (const tool of tools) {
    if (byId.has(tool.id)) throw new TypeError(`Tool ${tool.id} is registered twice`)
    byId.set(tool.id, tool)
    ;(globals[tool.namespace] ??= []).push(tool.name)
  }
  return {
    get: (namespace, name) => byId.get(`${namespace}.${name}`),
    globals: Object.freeze(globals),
    tools: Object.freeze([...tools]),
  }
}
