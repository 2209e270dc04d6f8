/**
 * `lakebase-broker/postgres`: a postgres.js client on broker credentials, with the package's
 * promises (a password function that never rejects, fail-fast without a credential, re-login
 * on `28P01`, a reconnect for a dropped connection, never a retried write that may have run).
 */
export {
  type CreateSqlOptions,
  createSql,
  DEFAULT_POOL_SIZE,
  IDLE_IN_TRANSACTION_TIMEOUT_MS,
  type SqlStats,
  STATEMENT_TIMEOUT_MS,
  sqlStats,
} from './create-sql.js'
