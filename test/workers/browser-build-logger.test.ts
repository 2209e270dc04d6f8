import { afterEach, describe, expect, it, vi } from 'vitest'

// What wrangler bundles for workerd: pino's browser build (package.json "browser"), which has
// no streams and writes to the console.
vi.mock('pino', async () => {
  // Untyped module: the path is a variable so TypeScript does not look for its declarations.
  const path = 'pino/browser.js'
  const browser = (await import(path)) as { default: unknown }
  return { default: browser.default, pino: browser.default }
})

const { createLogger } = await import('../../shared/process/logger.js')

afterEach(() => {
  vi.restoreAllMocks()
})

describe('the shared logger in the Worker bundle (pino’s browser build)', () => {
  it('censors the redacted fields before they reach the console', () => {
    const seen: unknown[] = []
    vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
      seen.push(...args)
    })
    const logger = createLogger({
      name: 'functions',
      level: 'info',
      // Ignored by the browser build, as in the Worker: it writes to the console itself.
      destination: { write: () => {} },
    })
    logger.warn(
      {
        password: 'browser-build-password-1',
        err: { token: 'browser-build-token-2' },
        headers: { authorization: 'Bearer browser-build-token-3' },
      },
      'refused',
    )
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({
      password: '[redacted]',
      err: { token: '[redacted]' },
      headers: { authorization: '[redacted]' },
      msg: 'refused',
    })
    expect(JSON.stringify(seen)).not.toMatch(/browser-build-(password|token)/)
  })
})
