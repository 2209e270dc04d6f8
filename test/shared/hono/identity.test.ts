import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { type IdentityEnv, identity } from '../../../shared/hono/index.js'

describe('identity()', () => {
  it('sets c.var.user from the Apps proxy headers when trusted', async () => {
    const app = new Hono<IdentityEnv>()
      .use(identity({ trustForwardedHeaders: true }))
      .get('/', (c) => c.text(c.var.user))
    const response = await app.request('/', { headers: { 'x-forwarded-email': 'ann@example.com' } })
    expect(await response.text()).toBe('ann@example.com')
  })

  it('answers 401 AUTH_REQUIRED in the contract body by itself, with no error handler installed', async () => {
    const app = new Hono<IdentityEnv>()
      .use(identity({ trustForwardedHeaders: true }))
      .get('/', (c) => c.text(c.var.user))
    const response = await app.request('/')
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ detail: { error_code: 'AUTH_REQUIRED' } })
  })
})
