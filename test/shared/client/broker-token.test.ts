import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  brokerTokenFile,
  clientBrokerToken,
  ensureTokenFile,
} from '../../../shared/client/broker-token.js'
import { tempDir } from '../../support/broker.js'

describe('the broker token file', () => {
  it('is generated once with mode 0600 in a 0700 folder, and read back by clients', async () => {
    const home = await tempDir('lakebase-xdg-')
    const env = { XDG_CONFIG_HOME: home }
    const path = brokerTokenFile(env)
    expect(path).toBe(join(home, 'lakebase-broker', 'token'))
    const [a, b] = await Promise.all([ensureTokenFile(path), ensureTokenFile(path)])
    expect(a).toBe(b)
    expect(a.length).toBeGreaterThanOrEqual(40)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(home, 'lakebase-broker'))).mode & 0o777).toBe(0o700)
    expect(await ensureTokenFile(path)).toBe(a)
    expect(await clientBrokerToken(env)).toBe(a)
  })

  it('lets LAKEBASE_BROKER_TOKEN win over the file on the client side', async () => {
    const home = await tempDir('lakebase-xdg-')
    await ensureTokenFile(brokerTokenFile({ XDG_CONFIG_HOME: home }))
    expect(
      await clientBrokerToken({ XDG_CONFIG_HOME: home, LAKEBASE_BROKER_TOKEN: 'explicit' }),
    ).toBe('explicit')
  })
})
