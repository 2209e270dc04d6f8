import { describe, expect, it } from 'vitest'
import { normaliseWorkspaceHost } from '../../../shared/databricks/host.js'

describe('normaliseWorkspaceHost', () => {
  it.each([
    ['https://adb-123.4.azuredatabricks.net', 'https://adb-123.4.azuredatabricks.net'],
    ['https://dbc-a1b2.cloud.databricks.com/', 'https://dbc-a1b2.cloud.databricks.com'],
    [
      'https://dbc-a1b2.cloud.databricks.com/?o=123#notebook',
      'https://dbc-a1b2.cloud.databricks.com',
    ],
    ['  HTTPS://DBC-A1B2.cloud.databricks.com  ', 'https://dbc-a1b2.cloud.databricks.com'],
    ['dbc-a1b2.cloud.databricks.com', 'https://dbc-a1b2.cloud.databricks.com'],
    ['http://127.0.0.1:8443', 'http://127.0.0.1:8443'],
    ['http://localhost:3000/', 'http://localhost:3000'],
    ['http://[::1]:9000', 'http://[::1]:9000'],
    ['http://127.0.0.2:9000', 'http://127.0.0.2:9000'],
  ])('accepts %s as %s', (raw, expected) => {
    expect(normaliseWorkspaceHost(raw)).toBe(expected)
  })

  it.each([
    ['http://dbc-a1b2.cloud.databricks.com', /must use https:\/\//],
    ['http://10.0.0.5:8080', /plain http is allowed only for a loopback host/],
    ['http://127.0.0.1.evil.example', /must use https/],
    ['ftp://dbc-a1b2.cloud.databricks.com', /must be an https:\/\/ URL/],
    ['', /is empty/],
    ['https://', /not a valid URL/],
  ])('rejects %s', (raw, message) => {
    expect(() => normaliseWorkspaceHost(raw)).toThrow(message)
  })

  it('rejects a URL with credentials in it without repeating them', () => {
    const attempt = () =>
      normaliseWorkspaceHost('https://user:s3cret-pass@dbc.cloud.databricks.com')
    expect(attempt).toThrow(/must not contain a user name or password/)
    expect(attempt).not.toThrow(/s3cret-pass/)
  })

  it('names the variable it checked in the message', () => {
    expect(() => normaliseWorkspaceHost('http://example.com', 'host in profile dev')).toThrow(
      /^host in profile dev must use https/,
    )
  })
})
