import { AsyncLocalStorage } from 'node:async_hooks'
import type { BrokerCredentials } from 'lakebase-broker'
import type { FunctionsDatabase as Database } from 'lakebase-broker/functions'

/** What belongs to one Worker request: its database connection and its credential client. */
export interface RequestResources {
  database: Database
  credentials: BrokerCredentials
}

/**
 * Lets an app built once per isolate use resources that live per request. Building the functions
 * app takes milliseconds of CPU (its routes and OpenAPI metadata), which a Worker would pay on
 * every request; instead the app gets stand-ins that forward each call to the resources of the
 * request it runs in (AsyncLocalStorage, which workerd provides under nodejs_compat).
 */
export class RequestScope {
  readonly #storage = new AsyncLocalStorage<RequestResources>()

  /** Forwards to the current request's database. */
  readonly database: Database = forwardTo(() => this.#storage.getStore()?.database)
  /** Forwards to the current request's credential client. */
  readonly credentials: BrokerCredentials = forwardTo(() => this.#storage.getStore()?.credentials)

  /** Runs `fn` (and everything it awaits) with `resources` as the current request's. */
  run<T>(resources: RequestResources, fn: () => T): T {
    return this.#storage.run(resources, fn)
  }
}

/**
 * An object whose every property is read from `target()` at the time of use, methods bound to
 * it; so a method added to the real type later is forwarded too. Outside a request (while the
 * app is built, when createFunctionsApp checks its options) every property is a method that
 * throws if it is called: nothing may use a request's resources before there is one.
 */
function forwardTo<T extends object>(target: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_stand_in, property) {
      const real = target()
      if (real === undefined) {
        return () => {
          throw new Error(`${String(property)} used outside a Worker request`)
        }
      }
      const value = Reflect.get(real, property, real)
      return typeof value === 'function' ? value.bind(real) : value
    },
  })
}
