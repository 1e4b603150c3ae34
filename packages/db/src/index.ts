/**
 * @module @ledgerflow/db
 */
export const packageName = "@ledgerflow/db"
