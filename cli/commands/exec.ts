import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { connectBroker } from '../../shared/client/broker-client.js'
import { clientBrokerToken } from '../../shared/client/broker-token.js'
import { brokerClientSettings, tlsSettings } from '../../shared/process/common-settings.js'
import { ConfigError } from '../../shared/process/config-error.js'
import type { Command } from '../../shared/process/run-main.js'

/** What a shell answers for a command it cannot find; `exec` answers the same. */
const EXIT_NOT_FOUND = 127
/** A command ended by a signal exits, as in a shell, with 128 + the signal's number. */
const EXIT_SIGNAL_BASE = 128

const settings = { ...brokerClientSettings, ...tlsSettings }

/**
 * `lakebase-broker exec -- CMD…`: runs CMD with the broker's credential in the `PG*` variables
 * every Postgres client reads (psql, libpq, psycopg, dbt, …) and exits with CMD's code. The
 * password goes only into CMD's environment: nothing is printed.
 */
export const command: Command<typeof settings> = {
  name: 'exec',
  help: `Usage: $0 [--help] -- CMD [ARGS…]

Runs CMD with PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGSSLMODE set from the broker's current
credential (LAKEBASE_BROKER_URL, target LAKEBASE_BROKER_TARGET), and exits with CMD's exit code.
For example: $0 -- psql -c 'select current_user'
The credential is read once, at start: a long-running CMD should ask the broker itself.`,
  settings,
  positionals: true,
  logLevel: 'warn',
  async start({ env, settings: s, args, defer }) {
    const [program, ...programArgs] = args.positionals
    if (program === undefined) {
      throw new ConfigError('exec needs a command to run', 'lakebase-broker exec -- CMD [ARGS…]')
    }
    const credential = await connectBroker({
      url: s.LAKEBASE_BROKER_URL,
      token: await clientBrokerToken(env),
      target: s.LAKEBASE_BROKER_TARGET,
    }).get()
    const child = spawn(program, programArgs, {
      stdio: 'inherit',
      env: {
        ...process.env,
        PGHOST: credential.host,
        PGPORT: String(credential.port),
        PGDATABASE: credential.database,
        PGUSER: credential.user,
        PGPASSWORD: credential.password,
        PGSSLMODE: s.PGSSLMODE ?? credential.ssl,
      },
    })
    const exited = new Promise<number>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') {
          process.stderr.write(`exec: ${program}: command not found\n`)
          resolve(EXIT_NOT_FOUND)
        } else reject(err)
      })
      child.once('exit', (code, signal) =>
        resolve(code ?? EXIT_SIGNAL_BASE + (signal ? constants.signals[signal] : 0)),
      )
    })
    // A terminal's Ctrl-C reaches CMD by itself (same process group); a SIGTERM sent to us only
    // is passed on, and we wait for CMD to end.
    defer(program, async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    })
    return exited
  },
}
