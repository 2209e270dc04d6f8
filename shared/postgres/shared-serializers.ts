import type postgres from 'postgres'

type Serializers = Record<PropertyKey, unknown>

/**
 * drizzle writes its own serializers (JSON it has encoded itself) on the client it is given:
 * createSql's facade, so on `base`. Each write reaches every live pool (generation), and each new
 * one gets them all. postgres.js 4 reads its type tables from the pool (`options.serializers` is a
 * view of them), so handing a pool base's object, as 3 allowed, would change nothing there.
 * Parsers stay each pool's own: a raw read keeps postgres.js's Dates.
 */
export function shareSerializers(base: postgres.Sql) {
  const written = new Map<PropertyKey, unknown>()
  const live = new Set<postgres.Sql>()
  base.options.serializers = new Proxy(base.options.serializers, {
    set(target, key, value) {
      written.set(key, value)
      for (const sql of live) (sql.options.serializers as Serializers)[key] = value
      return Reflect.set(target, key, value)
    },
  })
  return {
    /** A new pool: every serializer written so far, and every one written from now on. */
    adopt(sql: postgres.Sql): void {
      for (const [key, value] of written) (sql.options.serializers as Serializers)[key] = value
      live.add(sql)
    },
    /** A pool that is draining: no more writes. */
    release(sql: postgres.Sql): void {
      live.delete(sql)
    },
  }
}
