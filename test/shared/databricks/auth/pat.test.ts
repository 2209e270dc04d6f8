import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { PatAuth } from '../../../../shared/databricks/auth/pat.js'

describe('PatAuth', () => {
  it('returns the PAT with an unknown expiry', async () => {
    const auth = new PatAuth('https://workspace.test', 'dapi-secret-pat')
    expect(auth.method).toBe('pat')
    expect(auth.host).toBe('https://workspace.test')
    expect(await auth.token()).toEqual({ accessToken: 'dapi-secret-pat', expiresAt: null })
  })

  it('never shows the PAT when the auth object is logged or serialised', () => {
    const auth = new PatAuth('https://workspace.test', 'dapi-secret-pat', 'profile:dev/pat')
    expect(inspect(auth, { showHidden: true, depth: 5 })).not.toContain('dapi-secret-pat')
    expect(JSON.stringify(auth)).not.toContain('dapi-secret-pat')
    expect(auth.method).toBe('profile:dev/pat')
  })
})
