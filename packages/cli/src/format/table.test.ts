import { describe, expect, it } from 'vitest'
import { fields, table, truncate } from './table.js'

describe('table', () => {
  it('aligns columns under their headers and right-aligns numbers', () => {
    const rows = [
      { id: 'a', n: 5, note: 'short' },
      { id: 'longer', n: 123, note: '' },
    ]
    const text = table(rows, [
      { header: 'ID', value: (r) => r.id },
      { header: 'N', value: (r) => String(r.n), align: 'right' },
      { header: 'NOTE', value: (r) => r.note },
    ])
    expect(text).toBe('ID        N  NOTE\na         5  short\nlonger  123\n')
  })

  it('prints the empty text for no rows', () => {
    expect(table([], [{ header: 'X', value: () => '' }], 'nothing here')).toBe('nothing here\n')
  })

  it('cuts long cells with an ellipsis and flattens whitespace', () => {
    expect(truncate('a  b\nc', 10)).toBe('a b c')
    expect(truncate('abcdefghij', 5)).toBe('abcd…')
  })

  it('aligns label and value pairs', () => {
    expect(fields([['a', '1'], ['long', '2']])).toBe('a:    1\nlong: 2\n')
  })
})
