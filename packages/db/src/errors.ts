/**
 * Errors of the db package. Each has a string `code`, an error `type` (SPEC §8) and data fields; a
 * `Symbol.for('ledgerflow.db-error')` marker makes {@link DbError.isInstance} work across duplicate installs.
 */

const MARKER = Symbol.for('ledgerflow.db-error')

/** Codes of {@link DbError}. */
export type DbErrorCode =
  | 'schema_too_new'
  | 'migration_failed'
  | 'not_a_database'
  | 'corrupt_column'
  | 'reservation_rejected'
  | 'not_found'

/** Base class of the db package's errors. */
export class DbError extends Error {
  readonly [MARKER] = true
  readonly code: DbErrorCode
  readonly type: 'logic' | 'internal'
  readonly retryable = false

  constructor(code: DbErrorCode, type: 'logic' | 'internal', message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.type = type
  }

  /** True for any {@link DbError}, even one from another copy of this package. */
  static isInstance(error: unknown): error is DbError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true
  }
}

/** The database was migrated by a newer ledgerflow than this one; refusing to touch it. */
export class SchemaTooNewError extends DbError {
  constructor(
    readonly unknownMigrations: string[],
    readonly knownLatest: string | undefined,
  ) {
    super(
      'schema_too_new',
      'internal',
      `The database schema is newer than this version of ledgerflow: it has migration(s) ${unknownMigrations.join(', ')} ` +
        `that this code does not know (latest known: ${knownLatest ?? 'none'}). Upgrade ledgerflow; refusing to run.`,
    )
  }
}

/** A migration failed; the database was left at the previous version. */
export class MigrationFailedError extends DbError {
  constructor(
    readonly migration: string | undefined,
    cause: unknown,
  ) {
    super(
      'migration_failed',
      'internal',
      `Migration ${migration ?? '(unknown)'} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    )
  }
}

/** The file exists but is not a SQLite database. */
export class NotADatabaseError extends DbError {
  constructor(
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super('not_a_database', 'internal', `${file} is not a SQLite database (or it is encrypted or corrupt).`, options)
  }
}

/** A JSON column holds text that is not JSON (or not the expected shape). */
export class CorruptColumnError extends DbError {
  constructor(
    readonly table: string,
    readonly column: string,
    readonly rowId: string,
    detail: string,
  ) {
    super('corrupt_column', 'internal', `Corrupt value in ${table}.${column} of row ${rowId}: ${detail}`)
  }
}

/** A reservation asked for events that are not all pending events of the workflow's topics; nothing was reserved. */
export class ReservationRejectedError extends DbError {
  constructor(
    readonly topic: string,
    readonly problems: Array<{ messageId: string; reason: string }>,
  ) {
    super(
      'reservation_rejected',
      'logic',
      `Cannot reserve events of topic '${topic}': ` +
        problems.map((p) => `'${p.messageId}' ${p.reason}`).join('; ') +
        '. Nothing was reserved.',
    )
  }
}

/** A row the caller named does not exist (for example a topic that was never declared). */
export class NotFoundError extends DbError {
  constructor(
    readonly entity: string,
    readonly key: string,
  ) {
    super('not_found', 'logic', `${entity} '${key}' does not exist`)
  }
}
