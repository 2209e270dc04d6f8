import { describe, expect, it } from 'vitest'
import { isLoopbackHost } from '../../../shared/client/loopback.js'

describe('isLoopbackHost', () => {
  it.each(['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]'])(
    'counts %s as this machine',
    (host) => {
      expect(isLoopbackHost(host)).toBe(true)
    },
  )

  it.each([
    '10.0.0.5',
    '0.0.0.0',
    '127.0.0.1.evil.example',
    'localhost.evil.example',
    '::',
    '128.0.0.1',
    '',
  ])('does not count %s', (host) => {
    expect(isLoopbackHost(host)).toBe(false)
  })
})
