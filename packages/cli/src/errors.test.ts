import { AuthError, NotFoundError } from '@ledgerflow/agent'
import { SchemaTooNewError } from '@ledgerflow/db'
import { describe, expect, it } from 'vitest'
import { CliError, formatError } from './errors.js'

describe('formatError', () => {
  it.each([
    [new NotFoundError('workflow', 'x'), "error: workflow_not_found: workflow 'x' not found\n"],
    [new AuthError('token expired'), 'error: auth_failed: token expired\n'],
    [new CliError('invalid_option', '--limit must be a positive integer'), 'error: invalid_option: --limit must be a positive integer\n'],
    [Object.assign(new Error('EACCES: permission denied, open x'), { code: 'EACCES' }), 'error: eacces: EACCES: permission denied, open x\n'],
    [new SchemaTooNewError(['0009-future'], '0001-initial'), expect.stringMatching(/^error: schema_too_new: The database schema is newer/)],
  ])('prints %s as one classified line', (error, line) => {
    expect(formatError(error, {})).toEqual(line)
  })

  it('prints an unexpected error as internal, with its stack only under DEBUG', () => {
    const error = new TypeError('x is undefined')
    expect(formatError(error, {})).toBe('error: internal_error: x is undefined\n')
    expect(formatError(error, { DEBUG: 'ledgerflow:*' })).toContain('TypeError: x is undefined\n    at ')
  })
})
