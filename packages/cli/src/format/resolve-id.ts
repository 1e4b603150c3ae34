/** Finds a row by its full id or by the short form the tables show (`run_9f2c41d0`, or just `9f2c41d0`). */
import type { LedgerflowDb } from '@ledgerflow/db'
import { CliError } from '../errors.js'

/** Tables whose ids the CLI accepts in short form. */
export type IdTable = 'script_runs' | 'handler_runs' | 'mutations' | 'events'

const NOUN: Record<IdTable, string> = { script_runs: 'session', handler_runs: 'run', mutations: 'mutation', events: 'event' }

/**
 * Returns the full id of the row `input` names: an exact id wins; otherwise every id ending with the short form's
 * random part (and starting with its prefix, when given). Throws `CliError` `not_found` or `ambiguous_id`.
 */
export async function resolveId(db: LedgerflowDb, table: IdTable, input: string): Promise<string> {
  const text = input.replace(/…/g, '').trim()
  const exact = await db.kysely.selectFrom(table).select('id').where('id', '=', text).executeTakeFirst()
  if (exact) return exact.id
  const match = /^(?:([a-z]{1,4})_)?([A-Za-z0-9]{4,})$/.exec(text)
  if (!match) throw new CliError(`${NOUN[table]}_not_found`, `${NOUN[table]} '${input}' not found`)
  const [, prefix, suffix] = match
  // LIKE's `_` matches any character, so this is a superset; the exact test below decides.
  const rows = await db.kysely.selectFrom(table).select('id').where('id', 'like', `%${suffix}`).limit(1000).execute()
  const found = rows.map((r) => r.id).filter((id) => id.endsWith(suffix!) && (!prefix || id.startsWith(`${prefix}_`)))
  if (found.length === 1) return found[0]!
  if (found.length === 0) throw new CliError(`${NOUN[table]}_not_found`, `${NOUN[table]} '${input}' not found`)
  throw new CliError('ambiguous_id', `'${input}' matches ${found.length} ${NOUN[table]}s (${found.slice(0, 3).join(', ')}…); give more of the id`)
}
