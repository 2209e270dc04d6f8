import { describe, expect, it } from 'vitest'
import {
  givenHostProblem,
  isCheckableHost,
  type ListedHosts,
} from '../../../shared/databricks/host-check.js'

const ENDPOINT: ListedHosts = {
  host: 'ep-a1.database.us-west-2.cloud.databricks.com',
  readOnlyHost: 'ep-a1-ro.database.us-west-2.cloud.databricks.com',
  pooledHosts: ['ep-a1-pooler.database.us-west-2.cloud.databricks.com'],
}
const WHAT = 'endpoint projects/p/branches/b/endpoints/e'

describe('givenHostProblem', () => {
  it.each([
    ['the read-write host', 'ep-a1.database.us-west-2.cloud.databricks.com'],
    ['the read-only host', 'ep-a1-ro.database.us-west-2.cloud.databricks.com'],
    ['another case, with the root dot', 'EP-A1.Database.us-west-2.cloud.databricks.com.'],
  ])('accepts %s', (_, given) => {
    expect(givenHostProblem(given, WHAT, ENDPOINT)).toBeUndefined()
  })

  it("names the given host and the database's hosts when they differ", () => {
    expect(givenHostProblem('ep-old.database.example', WHAT, ENDPOINT)).toEqual({
      problem: `PGHOST is ep-old.database.example, but ${WHAT} lists ep-a1.database.us-west-2.cloud.databricks.com and ep-a1-ro.database.us-west-2.cloud.databricks.com: a stale PGHOST connects to another database`,
      fix: 'set PGHOST to ep-a1.database.us-west-2.cloud.databricks.com, or unset it (and LAKEBASE_HOST) to look the host up',
    })
  })

  it('says a pooled host takes no OAuth token', () => {
    const found = givenHostProblem(
      'ep-a1-pooler.database.us-west-2.cloud.databricks.com',
      WHAT,
      ENDPOINT,
    )
    expect(found?.problem).toBe(
      `PGHOST ep-a1-pooler.database.us-west-2.cloud.databricks.com is the pooled host of ${WHAT}, and Lakebase's pooler accepts no OAuth token`,
    )
  })

  it('has nothing to say when the database lists no host', () => {
    expect(
      givenHostProblem('anything.example', WHAT, {
        host: undefined,
        readOnlyHost: undefined,
        pooledHosts: [],
      }),
    ).toBeUndefined()
  })
})

describe('isCheckableHost', () => {
  it.each([
    ['127.0.0.1', false],
    ['localhost', false],
    ['::1', false],
    [undefined, false],
    ['ep-a1.database.example', true],
  ])('%s → %s: a loopback PGHOST is a tunnel or a proxy on purpose', (host, checkable) => {
    expect(isCheckableHost(host)).toBe(checkable)
  })
})
