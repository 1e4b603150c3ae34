/**
 * @module @ledgerflow/agent
 */
export const packageName = "@ledgerflow/agent"
