/**
 * `lakebase-broker`: credentials for Databricks Lakebase from a running broker, kept fresh.
 * The driver entries build on it: `lakebase-broker/postgres` (postgres.js), `lakebase-broker/pg`
 * (node-postgres) and `lakebase-broker/hono` (middleware).
 */
export { type BrokerCredentials, CLIENT_MIN_TTL_MS, isAccessToken } from './broker-client.js'
export { type BrokerCredentialsOptions, brokerCredentials } from './broker-credentials.js'
export { type Clock, systemClock, type TimerHandle } from './clock.js'
export { type ServedCredential as Credential, SSL_MODES, type SslMode } from './credential.js'
export {
  answerFor as databaseErrorAnswer,
  classify as classifyDatabaseError,
  codeOf as sqlstateOf,
  type Failure as DatabaseFailure,
  safeMessage as safeDatabaseMessage,
} from './db/sqlstate.js'
export { AppError as LakebaseError, type ErrorBody, LakebaseOptionError } from './errors.js'
export { isLoopbackHost } from './loopback.js'
export { ConfigError } from './process/config-error.js'
