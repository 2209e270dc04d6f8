/**
 * `lakebase-broker`: credentials for Databricks Lakebase from a running broker, kept fresh.
 * The driver entries build on it: `lakebase-broker/postgres` (postgres.js), `lakebase-broker/pg`
 * (node-postgres) and `lakebase-broker/hono` (middleware).
 */

export { ConfigError } from '../process/config-error.js'
export {
  parseSettings,
  type Setting,
  type Settings,
  type SettingsValues,
  setting,
} from '../process/settings.js'
export { type BrokerCredentials, CLIENT_MIN_TTL_MS, isAccessToken } from './broker-client.js'
export { type BrokerCredentialsOptions, brokerCredentials } from './broker-credentials.js'
export { type Clock, systemClock, type TimerHandle } from './clock.js'
export { type Credential, SSL_MODES, type SslMode } from './credential.js'
export { type ErrorBody, LakebaseError, LakebaseOptionError } from './errors.js'
export { isLoopbackHost } from './loopback.js'
export {
  classifyDatabaseError,
  type DatabaseFailure,
  databaseErrorAnswer,
  safeDatabaseMessage,
  sqlstateOf,
} from './sqlstate.js'
