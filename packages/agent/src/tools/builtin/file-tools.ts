/**
 * `Files`: built-in tools over one directory. `Files.list` and `Files.read` are reads; `Files.write` is a mutation
 * that writes atomically (temporary file, fsync, rename) and records which ledger entry wrote the file, so
 * `reconcile` can tell whether an interrupted write happened. Paths are confined to the root (see `safe-path.ts`).
 */
import { createHash, randomUUID } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { z } from 'zod'
import { EngineError, InternalError, LogicError, PermissionError } from '../../errors.js'
import { type ReconcileResult, type Tool, type ToolContext, defineTool } from '../define-tool.js'
import { RESERVED_DIR, confine } from './safe-path.js'

/** Options of {@link createFileTools}. */
export interface FileToolsOptions {
  /** The directory the tools may touch. Paths in scripts are relative to it; nothing outside it is reachable. */
  root: string
  /** Global name of the tools in scripts. Default `Files`. */
  namespace?: string
  /** Largest file `read` returns, in bytes. Default 1 MiB. */
  maxReadBytes?: number
  /** Largest content `write` accepts, in bytes. Default 1 MiB. */
  maxWriteBytes?: number
  /** Most entries `list` returns before it refuses (use `pattern` to narrow). Default 1000. */
  maxListEntries?: number
}

/** One entry of `Files.list`. */
export interface FileEntry {
  name: string
  /** Path relative to the root, `/`-separated: pass it to `Files.read`. */
  path: string
  type: 'file' | 'directory' | 'other'
  size: number
  modifiedAt: number
}

/** What `Files.write` returns (and `reconcile` reports for an applied write). */
export interface FileWriteResult {
  path: string
  bytes: number
  sha256: string
}

/** The record kept for each written file under `<root>/.ledgerflow/files/`. */
interface WriteRecord extends FileWriteResult {
  idempotencyKey: string
  writtenAt: number
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

/** Turns a `*`/`?` wildcard into an anchored regular expression. Pure. */
export function wildcard(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${escaped}$`)
}

/** Maps a file-system error to the engine's classes: missing → logic, refused → permission, else internal. */
function classify(error: unknown, tool: string, path: string): EngineError {
  const code = (error as NodeJS.ErrnoException)?.code
  const message = `${tool}: ${(error as Error)?.message ?? String(error)}`
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new LogicError(`${tool}: '${path}' does not exist`, { code: 'file_not_found', details: { path } })
    case 'EISDIR':
      return new LogicError(`${tool}: '${path}' is a directory`, { code: 'is_a_directory', details: { path } })
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new PermissionError(message, { code: 'file_access_denied', details: { path }, notApplied: true })
    default:
      return new InternalError(message, { code: 'file_error', cause: error, details: { path } })
  }
}

async function guarded<T>(tool: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (EngineError.isInstance(error)) throw error
    throw classify(error, tool, path)
  }
}

/** Writes `content` to `target` atomically: a temporary file beside it, fsync, rename. */
async function writeAtomically(target: string, content: string, tag: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true })
  const temp = join(dirname(target), `.${basename(target)}.${tag}.lf-tmp`)
  const handle = await open(temp, 'w')
  try {
    await handle.writeFile(content, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  // CRASH WINDOW: before the rename the target is untouched (reconcile: not applied); after it, it holds `content`.
  await rename(temp, target)
}

/**
 * Creates the `Files` tools confined to `root`: `list({ dir?, pattern? })`, `read({ path })` and the mutation
 * `write({ path, content })`.
 *
 * ### Examples
 * ```ts
 * const engine = createEngine({ db, tools: [...createFileTools({ root: './data' })] })
 * // in a script: const files = await Files.list({ dir: 'inbox', pattern: '*.txt' })
 * //              const { content } = await Files.read({ path: files[0].path })
 * //              await Files.write({ path: 'outbox/a.txt', content })   // in mutate
 * ```
 */
export function createFileTools(options: FileToolsOptions): Tool[] {
  const files: FilesConfig = {
    namespace: options.namespace ?? 'Files',
    root: options.root,
    maxRead: options.maxReadBytes ?? 1024 * 1024,
    maxWrite: options.maxWriteBytes ?? 1024 * 1024,
    maxEntries: options.maxListEntries ?? 1000,
  }
  return [listTool(files), readTool(files), writeTool(files)]
}

/** {@link FileToolsOptions} with their defaults applied. */
interface FilesConfig {
  namespace: string
  root: string
  maxRead: number
  maxWrite: number
  maxEntries: number
}

/** The record file of a written file (its path relative to the root). */
function recordFile(root: string, relativePath: string): string {
  return join(root, RESERVED_DIR, 'files', `${createHash('sha1').update(relativePath).digest('hex')}.json`)
}

async function readRecord(root: string, relativePath: string): Promise<WriteRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordFile(root, relativePath), 'utf8')) as WriteRecord
  } catch {
    return undefined
  }
}

/** `Files.list({ dir?, pattern? })`. */
function listTool({ namespace, root, maxEntries }: FilesConfig): Tool {
  return defineTool({
    namespace,
    name: 'list',
    kind: 'read',
    description: `Lists a directory under the files root, sorted by name; 'pattern' filters names with * and ? wildcards.`,
    input: z.object({ dir: z.string().default('.'), pattern: z.string().optional() }),
    async execute(input): Promise<FileEntry[]> {
      const id = `${namespace}.list`
      const dir = await confine(root, input.dir, id)
      return guarded(id, input.dir, async () => {
        const match = input.pattern ? wildcard(input.pattern) : undefined
        const names = (await readdir(dir.absolute)).filter(
          (n) => !n.endsWith('.lf-tmp') && !(dir.relative === '.' && n === RESERVED_DIR) && (!match || match.test(n)),
        )
        if (names.length > maxEntries) {
          throw new LogicError(`${id}: '${input.dir}' has ${names.length} matching entries; the limit is ${maxEntries} (narrow it with 'pattern')`, {
            code: 'too_many_entries',
          })
        }
        const entries: FileEntry[] = []
        for (const name of names.sort()) {
          const s = await stat(join(dir.absolute, name)).catch(() => undefined)
          if (!s) continue
          entries.push({
            name,
            path: dir.relative === '.' ? name : `${dir.relative}/${name}`,
            type: s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other',
            size: s.size,
            modifiedAt: Math.round(s.mtimeMs),
          })
        }
        return entries
      })
    },
  })
}

/** `Files.read({ path })`. */
function readTool({ namespace, root, maxRead }: FilesConfig): Tool {
  return defineTool({
    namespace,
    name: 'read',
    kind: 'read',
    description: 'Reads a UTF-8 text file under the files root.',
    input: z.object({ path: z.string() }),
    async execute(input) {
      const id = `${namespace}.read`
      const file = await confine(root, input.path, id)
      return guarded(id, input.path, async () => {
        const s = await stat(file.absolute)
        if (s.isDirectory()) throw classify(Object.assign(new Error('directory'), { code: 'EISDIR' }), id, input.path)
        if (s.size > maxRead) {
          throw new LogicError(`${id}: '${input.path}' is ${s.size} bytes; the limit is ${maxRead}`, { code: 'file_too_large' })
        }
        const content = await readFile(file.absolute, 'utf8')
        return { path: file.relative, content, size: s.size, modifiedAt: Math.round(s.mtimeMs), sha256: sha256(content) }
      })
    },
  })
}

/** The mutation `Files.write({ path, content })`, with its `reconcile`. */
function writeTool({ namespace, root, maxWrite }: FilesConfig): Tool {
  return defineTool({
    namespace,
    name: 'write',
    kind: 'mutation',
    description: 'Writes a UTF-8 text file under the files root atomically (creating folders), replacing it if it exists.',
    input: z.object({ path: z.string(), content: z.string() }),
    title: (input) => `write ${input.path}`,
    async execute(input, ctx: ToolContext): Promise<FileWriteResult> {
      const id = `${namespace}.write`
      const bytes = Buffer.byteLength(input.content, 'utf8')
      if (bytes > maxWrite) throw new LogicError(`${id}: content is ${bytes} bytes; the limit is ${maxWrite}`, { code: 'content_too_large' })
      const file = await confine(root, input.path, id)
      if (file.relative === '.') throw new LogicError(`${id}: '${input.path}' is the root directory`, { code: 'is_a_directory' })
      const key = ctx.idempotencyKey ?? `adhoc-${randomUUID()}`
      const result: FileWriteResult = { path: file.relative, bytes, sha256: sha256(input.content) }
      await guarded(id, input.path, () => writeAtomically(file.absolute, input.content, key.replace(/[^\w-]/g, '_')))
      // The record says which ledger entry wrote the file; a failure here does not undo the write.
      const record: WriteRecord = { ...result, idempotencyKey: key, writtenAt: Date.now() }
      await writeAtomically(recordFile(root, file.relative), JSON.stringify(record), 'record').catch((error: unknown) => {
        ctx.log('warn', `${id}: wrote '${file.relative}' but could not record it: ${(error as Error).message}`)
      })
      return result
    },
    async reconcile(input, ctx): Promise<ReconcileResult> {
      const file = await confine(root, input.path, `${namespace}.write`)
      let content: string
      try {
        content = await readFile(file.absolute, 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'not_applied' }
        return { status: 'unknown' }
      }
      const bytes = Buffer.byteLength(input.content, 'utf8')
      if (sha256(content) === sha256(input.content)) {
        return { status: 'applied', result: { path: file.relative, bytes, sha256: sha256(input.content) } }
      }
      // Different content: our write landed only if the record names this ledger entry (changed by someone since).
      const record = await readRecord(root, file.relative)
      if (record && ctx.idempotencyKey && record.idempotencyKey === ctx.idempotencyKey) {
        return { status: 'applied', result: { path: record.path, bytes: record.bytes, sha256: record.sha256 } }
      }
      return { status: 'not_applied' }
    },
  })
}
