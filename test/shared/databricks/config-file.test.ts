import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  parseDatabricksConfig,
  readDatabricksConfig,
} from '../../../shared/databricks/config-file.js'

describe('parseDatabricksConfig', () => {
  it('reads sections, key = value pairs and the DEFAULT section', () => {
    const profiles = parseDatabricksConfig(
      [
        '[DEFAULT]',
        'host  = https://dbc-default.cloud.databricks.com',
        'token = dapi-default',
        '',
        '[dev]',
        'host = https://dbc-dev.cloud.databricks.com/',
        'auth_type = databricks-cli',
      ].join('\n'),
    )
    expect([...profiles.keys()]).toEqual(['DEFAULT', 'dev'])
    expect(profiles.get('DEFAULT')).toEqual({
      host: 'https://dbc-default.cloud.databricks.com',
      token: 'dapi-default',
    })
    expect(profiles.get('dev')).toEqual({
      host: 'https://dbc-dev.cloud.databricks.com/',
      auth_type: 'databricks-cli',
    })
  })

  it('skips # and ; comment lines and blank lines, and accepts CRLF line ends', () => {
    const profiles = parseDatabricksConfig(
      '# written by databricks auth login\r\n; another comment\r\n\r\n[sp]\r\nclient_id = abc\r\n  # indented comment\r\nclient_secret = def\r\n',
    )
    expect(profiles.get('sp')).toEqual({ client_id: 'abc', client_secret: 'def' })
  })

  it('accepts key: value, lower-cases keys and keeps everything after the first separator', () => {
    const profiles = parseDatabricksConfig(
      '[p]\nHost: https://x.cloud.databricks.com\nToken = a=b\n',
    )
    expect(profiles.get('p')).toEqual({ host: 'https://x.cloud.databricks.com', token: 'a=b' })
  })

  it('does not let DEFAULT values leak into other sections', () => {
    const profiles = parseDatabricksConfig('[DEFAULT]\ntoken = t\n[other]\nhost = h\n')
    expect(profiles.get('other')).toEqual({ host: 'h' })
  })

  it('rejects a key outside any section, naming the line but not its content', () => {
    const attempt = () => parseDatabricksConfig('# top\ntoken = dapi-secret-value\n[p]\n')
    expect(attempt).toThrow(/line 2/)
    expect(attempt).not.toThrow(/dapi-secret-value/)
  })

  it('rejects a line that is neither a header nor a pair', () => {
    expect(() => parseDatabricksConfig('[p]\njust some words\n')).toThrow(/line 2/)
  })
})

describe('readDatabricksConfig', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'databrickscfg-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('returns undefined when the file does not exist', async () => {
    expect(await readDatabricksConfig(join(dir, 'missing.cfg'))).toBeUndefined()
  })

  it('parses the file when it exists', async () => {
    const path = join(dir, '.databrickscfg')
    await writeFile(path, '[DEFAULT]\nhost = https://a.cloud.databricks.com\n')
    const profiles = await readDatabricksConfig(path)
    expect(profiles?.get('DEFAULT')?.host).toBe('https://a.cloud.databricks.com')
  })

  it('names the file when its content is unreadable', async () => {
    const path = join(dir, 'broken.cfg')
    await writeFile(path, 'nonsense\n')
    await expect(readDatabricksConfig(path)).rejects.toThrow(
      `${path}: the Databricks config file has an unreadable line 1`,
    )
  })
})
