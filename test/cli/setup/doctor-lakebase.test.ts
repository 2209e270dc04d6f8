import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CheckResult, runChecks } from '../../../cli/setup/doctor.js'
import { tempDir } from '../../support/broker.js'
import { type LakebaseLike, lakebaseLike } from '../../support/lakebase-like.js'
import { adminSql } from '../../support/postgres.js'

/**
 * Issue 22, items 2–4, as `doctor` reports them: a given PGHOST the database does not list, the
 * group role, and the states that cannot serve. The checks run in this process against the kit.
 */

const ENDPOINT = 'projects/shop/branches/main/endpoints/primary'
/** A host name that never resolves (RFC 2606), so the TLS probe fails at once. */
const STALE_HOST = 'instance-old.stale.invalid'
const suffix = randomBytes(3).toString('hex')
const IDENTITY = `doctor-${suffix}@example.com`
/** A workspace group with a Postgres role of its own, which the kit sets each token on. */
const GROUP = `doctor-team-${suffix}`

let lakebase: LakebaseLike
let env: Record<string, string>

beforeAll(async () => {
  lakebase = await lakebaseLike({
    lifetimeS: 3600,
    identity: IDENTITY,
    workspace: { endpoints: [{ name: ENDPOINT }], groups: { [GROUP]: [IDENTITY] } },
  })
  const admin = adminSql()
  await admin.unsafe(`create role "${GROUP}" with login`)
  await admin.end()
  env = { ...lakebase.brokerEnv, HOME: await tempDir('lakebase-doctor-') }
})
afterAll(async () => {
  await lakebase?.close()
  const admin = adminSql()
  await admin.unsafe(`drop role if exists "${GROUP}"`)
  await admin.end()
})

const row = (results: CheckResult[], check: string) => results.find((r) => r.check === check)

describe('doctor on Lakebase as it is today', () => {
  it("fails the host check when PGHOST is not one of the instance's hosts, naming both", async () => {
    const instance = lakebase.workspace.instances.get(lakebase.workspace.instanceName)
    const results = await runChecks({ ...env, PGHOST: STALE_HOST })
    expect(row(results, 'host')).toEqual({
      check: 'host',
      status: 'FAIL',
      detail: `PGHOST is ${STALE_HOST}, but database instance ${lakebase.workspace.instanceName} lists ${instance?.read_write_dns} and ${instance?.read_only_dns}: a stale PGHOST connects to another database`,
      fix: `set PGHOST to ${instance?.read_write_dns}, or unset it (and LAKEBASE_HOST) to look the host up`,
    })
    expect(row(results, 'instance state')?.status).toBe('pass')
  })

  it("fails the host check when PGHOST is an endpoint's pooled host", async () => {
    const endpoint = lakebase.workspace.endpoints.get(ENDPOINT)
    const pooled = endpoint?.read_write_pooled_host ?? ''
    const results = await runChecks({
      ...env,
      LAKEBASE_INSTANCE_NAME: '',
      LAKEBASE_ENDPOINT: ENDPOINT,
      PGHOST: pooled,
    })
    expect(row(results, 'host')).toMatchObject({
      status: 'FAIL',
      detail: `PGHOST ${pooled} is the pooled host of endpoint ${ENDPOINT}, and Lakebase's pooler accepts no OAuth token`,
      fix: expect.stringContaining(`set PGHOST to ${endpoint?.host}`),
    })
  })

  it('passes the host check for a loopback PGHOST, a tunnel or proxy put there on purpose', async () => {
    const results = await runChecks(env)
    expect(row(results, 'host')).toMatchObject({ status: 'pass', detail: /is loopback/ })
  })

  it("names the group role as the user with LAKEBASE_GROUP, and mints the group's credential", async () => {
    const results = await runChecks({
      ...env,
      LAKEBASE_INSTANCE_NAME: '',
      LAKEBASE_ENDPOINT: ENDPOINT,
      LAKEBASE_GROUP: GROUP,
      PGUSER: lakebase.role,
    })
    expect(row(results, 'credential')?.status).toBe('pass')
    expect(row(results, 'username')).toMatchObject({
      status: 'pass',
      detail: `${GROUP} (the group role of LAKEBASE_GROUP; PGUSER is not used)`,
    })
    expect(lakebase.workspace.credentials.at(-1)).toMatchObject({ group: GROUP })
  })

  it('fails the state check of a STOPPED instance with a fix naming the state', async () => {
    const instance = lakebase.workspace.instances.get(lakebase.workspace.instanceName)
    if (!instance) throw new Error('no instance')
    instance.state = 'STOPPED'
    try {
      const results = await runChecks(env)
      expect(row(results, 'instance state')).toMatchObject({
        status: 'FAIL',
        detail: `${lakebase.workspace.instanceName} is STOPPED`,
        fix: expect.stringMatching(/^start the instance: it is STOPPED/),
      })
    } finally {
      instance.state = 'AVAILABLE'
    }
  })

  it('fails the state check of a disabled endpoint, saying it must be enabled', async () => {
    const endpoint = lakebase.workspace.endpoints.get(ENDPOINT)
    if (!endpoint) throw new Error('no endpoint')
    endpoint.disabled = true
    try {
      const results = await runChecks({
        ...env,
        LAKEBASE_INSTANCE_NAME: '',
        LAKEBASE_ENDPOINT: ENDPOINT,
      })
      expect(row(results, 'instance state')).toMatchObject({
        status: 'FAIL',
        detail: `${ENDPOINT} is disabled`,
        fix: expect.stringMatching(/^enable the endpoint/),
      })
    } finally {
      endpoint.disabled = false
    }
  })
})
