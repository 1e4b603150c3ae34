/**
 * Path confinement for the file tools: every path a script names is resolved inside one root directory, through
 * symbolic links, and refused (as a `permission` error) when it would leave the root or touch the reserved
 * `.ledgerflow` folder at its top (where the tools keep their own records, and where the CLI keeps its database).
 */
import { realpath } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { LogicError, PermissionError } from '../../errors.js'

/** The reserved top-level folder of a files root. */
export const RESERVED_DIR = '.ledgerflow'

/** A path checked to lie inside the root. */
export interface ConfinedPath {
  /** Absolute path (real root + the relative part). */
  absolute: string
  /** Path relative to the root, with `/` separators (`.` for the root itself). */
  relative: string
}

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate)
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel))
}

/** The real path of the deepest existing ancestor of `path` (itself when it exists), plus the missing tail. */
async function realAncestor(path: string): Promise<string> {
  let current = path
  const tail: string[] = []
  for (;;) {
    try {
      return join(await realpath(current), ...tail.reverse())
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error
      const parent = dirname(current)
      if (parent === current) return path
      tail.push(current.slice(parent.length).replace(/^[\\/]+/, ''))
      current = parent
    }
  }
}

/**
 * Resolves `path` (relative to `root`, or absolute) and checks it stays inside the root, following symbolic links
 * of the part that exists. Pure of side effects; throws `PermissionError` (code `path_outside_root` or
 * `path_reserved`) or `LogicError` (`invalid_path`).
 */
export async function confine(root: string, path: string, tool: string): Promise<ConfinedPath> {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new LogicError(`${tool}: '${String(path)}' is not a valid path`, { code: 'invalid_path' })
  }
  let realRoot: string
  try {
    realRoot = await realpath(root)
  } catch {
    throw new LogicError(`${tool}: the files root '${root}' does not exist`, { code: 'files_root_missing' })
  }
  const lexical = resolve(realRoot, path)
  const outside = () =>
    new PermissionError(`${tool}: path '${path}' is outside the files root`, { code: 'path_outside_root', details: { path } })
  if (!isInside(realRoot, lexical)) throw outside()
  // A symbolic link inside the root may point outside it: check where the existing part really leads.
  const real = await realAncestor(lexical)
  if (!isInside(realRoot, real)) throw outside()
  const rel = relative(realRoot, real).split(sep).join('/')
  if (rel === RESERVED_DIR || rel.startsWith(`${RESERVED_DIR}/`)) {
    throw new PermissionError(`${tool}: path '${path}' is reserved for ledgerflow`, { code: 'path_reserved', details: { path } })
  }
  return { absolute: real, relative: rel === '' ? '.' : rel }
}
