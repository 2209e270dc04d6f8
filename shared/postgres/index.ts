/**
 * `lakebase-broker/postgres`: a postgres.js client on broker credentials, with the package's
 * promises (a password function that never rejects, fail-fast without a credential, re-login
 * on `28P01`, a reconnect for a dropped connection, never a retried write that may have run).
 */
export { type CreateSqlOptions, createSql, type SqlStats, sqlStats } from './create-sql.js'
