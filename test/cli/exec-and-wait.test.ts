import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { RunningBroker } from '../../broker/broker.js'
import { startTestBroker, TEST_CLIENT_TOKEN, tempDir } from '../support/broker.js'
import { freePort } from '../support/free-port.js'
import { spawnTs } from '../support/process.js'

const PASSWORD_MARK = 'exec-test-password'

describe('lakebase-broker exec and wait, against a broker on a real Postgres', () => {
  let broker: RunningBroker
  let failing: RunningBroker
  let clientEnv: Record<string, string>
  let password: string

  beforeAll(async () => {
    const pg = inject('postgres')
    password = pg.password
    ;({ broker } = await startTestBroker({
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      PGUSER: pg.user,
      PGPASSWORD: pg.password,
      PGDATABASE: 'postgres',
      PGSSLMODE: 'disable',
    }))
    ;({ broker: failing } = await startTestBroker({
      LAKEBASE_CREDENTIAL_COMMAND: `echo '{"password": "${PASSWORD_MARK}"' >&2; exit 3`,
    }))
    clientEnv = { LAKEBASE_BROKER_URL: broker.url, LAKEBASE_BROKER_TOKEN: TEST_CLIENT_TOKEN }
  })
  afterAll(async () => {
    await broker?.close()
    await failing?.close()
  })

  it('exec runs CMD with the PG* variables: a libpq-style client (pg, from env alone) logs in', async () => {
    const script = [
      "const { Client } = require('pg')",
      'const c = new Client()',
      'c.connect().then(() => c.query("select current_user as u, current_database() as d"))',
      '  .then((r) => { console.log(JSON.stringify({ row: r.rows[0], ssl: process.env.PGSSLMODE })); return c.end() })',
    ].join('\n')
    const child = spawnTs('cli/main.ts', ['exec', '--', process.execPath, '-e', script], clientEnv)
    expect(await child.exited).toBe(0)
    const pg = inject('postgres')
    expect(JSON.parse(child.output().trim())).toEqual({
      row: { u: pg.user, d: 'postgres' },
      ssl: 'disable',
    })
    expect(child.output()).not.toContain(password)
  })

  it("exec exits with CMD's code, and prints nothing of its own", async () => {
    const child = spawnTs('cli/main.ts', ['exec', '--', 'sh', '-c', 'exit 7'], clientEnv)
    expect(await child.exited).toBe(7)
    expect(child.output()).toBe('')
  })

  it('exec answers 127 for a command that does not exist', async () => {
    const child = spawnTs('cli/main.ts', ['exec', '--', 'no-such-command-here'], clientEnv)
    expect(await child.exited).toBe(127)
    expect(child.output()).toContain('no-such-command-here: command not found')
  })

  it('wait exits 0 once the broker is ready', async () => {
    const child = spawnTs('cli/main.ts', ['wait', '--timeout', '10'], clientEnv)
    expect(await child.exited).toBe(0)
    expect(child.output()).toContain('is ready')
  })

  it('wait reaches a broker on a unix socket too', async () => {
    const pg = inject('postgres')
    const { broker: onSocket } = await startTestBroker({
      BROKER_SOCKET: join(await tempDir('lakebase-socket-'), 'broker.sock'),
      PGHOST: pg.host,
      PGUSER: pg.user,
      PGPASSWORD: pg.password,
    })
    try {
      expect(onSocket.url).toMatch(/^unix:\//)
      const child = spawnTs('cli/main.ts', ['wait', '--timeout', '10'], {
        LAKEBASE_BROKER_URL: onSocket.url,
      })
      expect(await child.exited).toBe(0)
    } finally {
      await onSocket.close()
    }
  })

  it("wait exits 1 at the timeout with the broker's last error", async () => {
    const child = spawnTs('cli/main.ts', ['wait', '--timeout', '1'], {
      LAKEBASE_BROKER_URL: failing.url,
    })
    expect(await child.exited).toBe(1)
    expect(child.output()).toMatch(/^wait: the broker was not ready after 1 s: default: \w+: .+/)
    expect(child.output()).not.toContain(PASSWORD_MARK)
  })

  it('wait exits 1 naming an unreachable broker', async () => {
    const child = spawnTs('cli/main.ts', ['wait', '--timeout', '1'], {
      LAKEBASE_BROKER_URL: `http://127.0.0.1:${await freePort()}`,
    })
    expect(await child.exited).toBe(1)
    expect(child.output()).toContain('unreachable (ECONNREFUSED)')
  })

  it('wait exits 2 on a wrong --timeout', async () => {
    const child = spawnTs('cli/main.ts', ['wait', '--timeout', 'soon'], clientEnv)
    expect(await child.exited).toBe(2)
    expect(child.output()).toContain('--timeout must be a number of seconds')
  })
})
