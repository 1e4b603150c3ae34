/**
 * @module @ledgerflow/bench
 */
export const packageName = "@ledgerflow/bench"
