import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createFileTools } from '@ledgerflow/agent'
import { checkInvariants, createTestEngine, recordingTool } from '@ledgerflow/tests/kit'
import { describe, expect, it } from 'vitest'

const code = await readFile(new URL('./workflow.js', import.meta.url), 'utf8')

describe('order announcements', () => {
  it('announces each order once, even when the chat answer is lost after posting', async () => {
    const root = mkdtempSync(join(tmpdir(), 'orders-'))
    mkdirSync(join(root, 'orders'))
    writeFileSync(join(root, 'orders', 'a.json'), JSON.stringify({ id: 'A1', total: 30, customer: 'Alice' }))
    writeFileSync(join(root, 'orders', 'b.json'), JSON.stringify({ id: 'B2', total: 12, customer: 'Bob' }))
    const chat = recordingTool({ namespace: 'Chat', name: 'post', kind: 'mutation' })
    chat.script({ applyThenError: 'network' }) // the first post goes out, then its answer is lost

    const env = await createTestEngine({ tools: [...createFileTools({ root }), chat.tool] })
    try {
      await env.engine.deployWorkflow({ id: 'orders', title: 'Orders', code })
      const result = await env.engine.runSession('orders')

      expect(result.status).toBe('completed')
      expect(chat.effects.entries().map((e) => e.count)).toEqual([1, 1]) // reconciled, never posted twice
      expect(await env.db.handlerState.get('orders', 'announce')).toMatchObject({ state: JSON.stringify({ sum: 42 }) })
      expect(await checkInvariants(env.db, { effects: [chat.effects] })).toEqual([])
    } finally {
      await env.close()
    }
  })
})
