/** The tools the CLI registers: the built-in `Files` and `Http` tools, plus modules named with `--tools`. */
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { type Tool, createFileTools, createHttpTools } from '@ledgerflow/agent'
import { CliError } from './errors.js'

/** The built-in tools: `Files` confined to `filesRoot`, and `Http`. */
export function builtinTools(options: { filesRoot: string }): Tool[] {
  return [...createFileTools({ root: options.filesRoot }), ...createHttpTools()]
}

function isTool(value: unknown): value is Tool {
  const t = value as Partial<Tool> | undefined
  return typeof t === 'object' && t !== null && typeof t.namespace === 'string' && typeof t.name === 'string' && typeof t.execute === 'function'
}

/**
 * Loads an ESM module that exports `tools: Tool[]` (or a default export that is one). A path is resolved against
 * `cwd`; anything else is imported as a package name.
 */
export async function loadToolModule(specifier: string, cwd: string): Promise<Tool[]> {
  const isPath = specifier.startsWith('.') || isAbsolute(specifier)
  const url = isPath ? pathToFileURL(resolve(cwd, specifier)).href : specifier
  let module: Record<string, unknown>
  try {
    module = (await import(url)) as Record<string, unknown>
  } catch (error) {
    throw new CliError('tools_module_failed', `--tools ${specifier}: ${(error as Error).message}`, { cause: error })
  }
  const tools = module.tools ?? module.default
  if (!Array.isArray(tools) || !tools.every(isTool)) {
    throw new CliError('tools_module_invalid', `--tools ${specifier}: the module must export 'tools', an array of tools made with defineTool`)
  }
  return tools
}

/** Built-in tools followed by the extra ones; an extra tool replaces a built-in tool with the same name. */
export function mergeTools(builtin: readonly Tool[], extra: readonly Tool[]): Tool[] {
  const replaced = new Set(extra.map((t) => t.id))
  return [...builtin.filter((t) => !replaced.has(t.id)), ...extra]
}
