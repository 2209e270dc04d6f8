/**
 * `lakebase-broker`: credentials for Databricks Lakebase from a running broker, kept fresh.
 * The driver entries build on it: `lakebase-broker/postgres` (postgres.js), `lakebase-broker/pg`
 * (node-postgres) and `lakebase-broker/hono` (middleware).
 */
export type { BrokerCredentials } from './broker-client.js'
export { type BrokerCredentialsOptions, brokerCredentials } from './broker-credentials.js'
export type { ServedCredential as Credential, SslMode } from './credential.js'
export { AppError as LakebaseError, type ErrorBody, LakebaseOptionError } from './errors.js'
