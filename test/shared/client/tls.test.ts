import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { type BrokerCredentials, connectBroker } from '../../../shared/client/broker-client.js'
import type { SslMode } from '../../../shared/client/credential.js'
import { LakebaseOptionError } from '../../../shared/client/errors.js'
import { sqlstateOf } from '../../../shared/client/sqlstate.js'
import { sslOption, tlsOptions } from '../../../shared/client/tls.js'
import { createPool } from '../../../shared/pg/create-pool.js'
import { createSql } from '../../../shared/postgres/create-sql.js'
import type { Env } from '../../../shared/process/env.js'
import { startTestBroker, TEST_CLIENT_TOKEN } from '../../support/broker.js'
import {
  CERT_HOST,
  OTHER_HOST,
  startTlsPostgres,
  type TlsPostgres,
} from '../../support/tls-postgres.js'

/** One way of reaching Postgres; every row of the matrix runs through each. */
interface Driver {
  name: string
  /** Whether the connection that answers is encrypted (pg_stat_ssl), through the driver. */
  connectsWithTls(credentials: BrokerCredentials, sslMode: SslMode, env: Env): Promise<boolean>
}

const TLS_IN_USE = 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'

const drivers: Driver[] = [
  {
    name: 'postgres.js (createSql)',
    async connectsWithTls(credentials, sslMode, env) {
      const sql = createSql({ credentials, sslMode, env, max: 1 })
      try {
        const [row] = await sql.unsafe(TLS_IN_USE)
        return row?.ssl === true
      } finally {
        await sql.end()
      }
    },
  },
  {
    name: 'pg (createPool)',
    async connectsWithTls(credentials, sslMode, env) {
      const pool = createPool({ credentials, sslMode, env, max: 1 })
      try {
        const { rows } = await pool.query(TLS_IN_USE)
        return rows[0]?.ssl === true
      } finally {
        await pool.end()
      }
    },
  },
]

let server: TlsPostgres
/** A broker client whose credential points at the TLS server by this host name. */
const credentialsAt = new Map<string, BrokerCredentials>()
const stops: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  server = await startTlsPostgres()
  stops.push(() => server.stop())
  for (const host of [CERT_HOST, OTHER_HOST, 'localhost']) {
    const { broker } = await startTestBroker({ ...server.brokerEnv(host), PGSSLMODE: 'require' })
    stops.push(() => broker.close())
    credentialsAt.set(host, connectBroker({ url: broker.url, token: TEST_CLIENT_TOKEN }))
  }
})

afterAll(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
})

afterEach(() => {
  vi.unstubAllEnvs()
})

const at = (host: string) => {
  const credentials = credentialsAt.get(host)
  if (!credentials) throw new Error(`no broker for ${host}`)
  return credentials
}

/**
 * Why a connection attempt failed: the code and messages along the error's `cause` chain (drizzle
 * wraps the driver's error in its own). The test fails if it connects.
 */
async function refusal(attempt: Promise<boolean>): Promise<{ code?: string; message: string }> {
  const outcome = await attempt.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(outcome, 'the connection should have been refused').toBeInstanceOf(Error)
  const messages: string[] = []
  for (let e = outcome as Error | undefined; e instanceof Error; e = e.cause as Error | undefined) {
    messages.push(e.message)
  }
  return { code: sqlstateOf(outcome), message: messages.join(' <- ') }
}

describe.each(drivers)('TLS through $name', (driver) => {
  it('require: connects encrypted, checking no certificate', async () => {
    expect(await driver.connectsWithTls(at(CERT_HOST), 'require', {})).toBe(true)
  })

  it('prefer: connects encrypted to a server that has TLS', async () => {
    expect(await driver.connectsWithTls(at(CERT_HOST), 'prefer', {})).toBe(true)
  })

  it('verify-full with PGSSLROOTCERT: connects when the certificate names the host', async () => {
    const env = { PGSSLROOTCERT: server.caFile }
    expect(await driver.connectsWithTls(at(CERT_HOST), 'verify-full', env)).toBe(true)
    expect(await driver.connectsWithTls(at('localhost'), 'verify-full', env)).toBe(true)
  })

  it('verify-full: refuses a host name the certificate does not name, saying so', async () => {
    const env = { PGSSLROOTCERT: server.caFile }
    const err = await refusal(driver.connectsWithTls(at(OTHER_HOST), 'verify-full', env))
    expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    expect(err.message).toContain(OTHER_HOST)
  })

  it('verify-full: refuses a certificate from an unknown CA, saying so', async () => {
    const env = { PGSSLROOTCERT: server.otherCaFile }
    const err = await refusal(driver.connectsWithTls(at(CERT_HOST), 'verify-full', env))
    expect(err.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    expect(err.message).toMatch(/unable to verify the first certificate/)
  })

  it('verify-full without PGSSLROOTCERT: checks against the system CAs, which do not know the test CA', async () => {
    const err = await refusal(driver.connectsWithTls(at(CERT_HOST), 'verify-full', {}))
    expect(err.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })

  it('verify-ca: checks the chain but not the host name', async () => {
    const env = { PGSSLROOTCERT: server.caFile }
    expect(await driver.connectsWithTls(at(OTHER_HOST), 'verify-ca', env)).toBe(true)
    const err = await refusal(
      driver.connectsWithTls(at(OTHER_HOST), 'verify-ca', { PGSSLROOTCERT: server.otherCaFile }),
    )
    expect(err.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })
})

describe('the PGSSLMODE mapping', () => {
  it('gives each driver its own spelling of the unverified modes', () => {
    expect(sslOption('disable', CERT_HOST)).toBe(false)
    expect(sslOption('prefer', CERT_HOST)).toBe('prefer')
    expect(sslOption('require', CERT_HOST)).toBe('require')
    expect(tlsOptions('require')).toEqual({ rejectUnauthorized: false })
    expect(tlsOptions('disable')).toBeUndefined()
  })

  it('treats PGSSLROOTCERT=system as the system CAs', () => {
    expect(tlsOptions('verify-full', { PGSSLROOTCERT: 'system' })).toEqual({
      rejectUnauthorized: true,
    })
  })

  it('refuses an unreadable PGSSLROOTCERT when the pool is built, naming the setting', () => {
    const env = { PGSSLROOTCERT: '/nonexistent/root.crt' }
    const build = () => createPool({ credentials: at(CERT_HOST), env })
    expect(build).toThrow(LakebaseOptionError)
    expect(build).toThrow(/PGSSLROOTCERT: cannot read the CA file \/nonexistent\/root.crt/)
  })
})
