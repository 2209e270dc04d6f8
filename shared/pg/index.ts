/**
 * `lakebase-broker/pg`: a node-postgres `pg.Pool` on broker credentials, with the same promises
 * as `lakebase-broker/postgres`.
 */
export {
  type CreatePoolOptions,
  createPool,
  type LakebasePool,
  type PgPoolStats,
} from './create-pool.js'
