import pg from 'pg'

type Connect = (
  this: pg.Client,
  callback?: (err: Error | null) => void,
) => Promise<void> | undefined

/**
 * A `pg.Client` that obtains its password in the connect path just before it opens its socket —
 * where SQLAlchemy's `do_connect` hook put the original app's token. pg itself would call a
 * password function only once Postgres asks for the password; by then the stand-in Postgres has
 * read the role's password, so a token minted at that moment would be refused there (never on
 * Lakebase, which checks the token itself). Every new connection calls `password()`; any caching
 * is the design's own.
 */
export function preConnectClient(password: () => Promise<string>): typeof pg.Client {
  class PreConnectClient extends pg.Client {}
  const connect = pg.Client.prototype.connect as unknown as Connect
  const preConnect: Connect = function (callback) {
    const ready = password().then((value) => {
      // pg keeps the password in a writable own property.
      ;(this as unknown as { password: string }).password = value
    })
    if (callback) {
      ready.then(
        () => connect.call(this, callback),
        (err: Error) => callback(err),
      )
      return undefined
    }
    return ready.then(() => connect.call(this))
  }
  Object.defineProperty(PreConnectClient.prototype, 'connect', { value: preConnect })
  return PreConnectClient
}
