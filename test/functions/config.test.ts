import { describe, expect, it } from 'vitest'
import { resolveFunctionsConfig } from '../../cli/functions-config.js'

describe('the functions settings for Postgres timeouts', () => {
  it('default statement_timeout and idle_in_transaction_session_timeout to 30 s', () => {
    const config = resolveFunctionsConfig({})
    expect(config.statementTimeoutMs).toBe(30_000)
    expect(config.idleInTransactionTimeoutMs).toBe(30_000)
  })

  it('take LAKEBASE_STATEMENT_TIMEOUT_MS and LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', () => {
    const config = resolveFunctionsConfig({
      LAKEBASE_STATEMENT_TIMEOUT_MS: '1500',
      LAKEBASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0',
    })
    expect(config.statementTimeoutMs).toBe(1_500)
    expect(config.idleInTransactionTimeoutMs).toBe(0)
  })

  it.each(['soon', '-1', '1.5', '99999999999'])('refuse %s, naming the variable', (value) => {
    expect(() => resolveFunctionsConfig({ LAKEBASE_STATEMENT_TIMEOUT_MS: value })).toThrow(
      /LAKEBASE_STATEMENT_TIMEOUT_MS/,
    )
  })
})
