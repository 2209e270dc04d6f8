/**
 * `lakebase-broker/functions`: the reference functions as a Hono app to mount, and the
 * migrations that create their tables.
 */
export {
  type CreateFunctionsAppOptions,
  createFunctionsApp,
  type FunctionsApp,
} from './create-app.js'
export {
  FunctionsDatabase,
  type FunctionsDatabaseOptions,
  type PoolStats,
} from './db/database.js'
export { type MigrateOptions, type MigrateResult, migrate } from './migrate.js'
export { type FunctionsAppConfig, functionsAppConfig, functionsAppSettings } from './settings.js'
