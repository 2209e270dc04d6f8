import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import { describe, expect, it } from 'vitest'
import {
  APPENDED_HEADER,
  configuredNames,
  mergeEnvText,
  updateEnvFile,
} from '../../../cli/setup/env-file.js'
import { tempDir } from '../../support/broker.js'

describe('mergeEnvText', () => {
  it('replaces a variable in place and keeps comments, blank lines and other variables', () => {
    const before = '# workspace\nDATABRICKS_HOST=https://old\n\n# mine\nFOO=bar\n'
    expect(mergeEnvText(before, { set: { DATABRICKS_HOST: 'https://new' } })).toBe(
      '# workspace\nDATABRICKS_HOST=https://new\n\n# mine\nFOO=bar\n',
    )
  })

  it('appends new variables under one header', () => {
    expect(mergeEnvText('FOO=bar\n', { set: { A: '1', B: '2' } })).toBe(
      `FOO=bar\n\n${APPENDED_HEADER}\nA=1\nB=2\n`,
    )
    expect(mergeEnvText('', { set: { A: '1' } })).toBe(`${APPENDED_HEADER}\nA=1\n`)
  })

  it('comments out retired variables with the reason, including a multi-line value', () => {
    const before = 'PGUSER=token\nKEY="line one\nline two"\nFOO=bar\n'
    const after = mergeEnvText(before, {
      set: {},
      unset: { PGUSER: 'no role "token"', KEY: 'stale' },
    })
    expect(after).toBe(
      '# no role "token":\n# PGUSER=token\n# stale:\n# KEY="line one\n# line two"\nFOO=bar\n',
    )
    expect(parseEnv(after)).toEqual({ FOO: 'bar' })
  })

  it('keeps `export` and drops later duplicates that would otherwise win', () => {
    const after = mergeEnvText('export A=1\nA=2\n', { set: { A: '3' } })
    expect(after).toBe('export A=3\n')
  })

  it('quotes values so that parseEnv reads them back unchanged', () => {
    const values = {
      PLAIN: 'https://dbc-1.cloud.databricks.com',
      SPACES: 'a b # c',
      SINGLE: "it's",
      BOTH: `it's "quoted"`,
    }
    expect(parseEnv(mergeEnvText('', { set: values }))).toEqual(values)
  })
})

describe('configuredNames', () => {
  it('names what configure wrote under its header, and none of the lines the user wrote', () => {
    const text = mergeEnvText('# mine\nPGHOST=mine.example.com\n', { set: { LAKEBASE_HOST: 'a' } })
    expect([...configuredNames(text)]).toEqual(['LAKEBASE_HOST'])
    const again = mergeEnvText(`${text}\nLATER=1\n`, { set: { LAKEBASE_PORT: '5432' } })
    expect([...configuredNames(again)]).toEqual(['LAKEBASE_HOST', 'LAKEBASE_PORT'])
  })
})

describe('updateEnvFile', () => {
  it('creates the file owner-only, and keeps an existing file’s mode unless it gets a secret', async () => {
    const dir = await tempDir('lakebase-env-')
    const created = join(dir, 'new.env')
    await updateEnvFile(created, { set: { A: '1' } })
    expect((await stat(created)).mode & 0o777).toBe(0o600)

    const existing = join(dir, 'old.env')
    await writeFile(existing, 'B=2\n', { mode: 0o644 })
    await updateEnvFile(existing, { set: { A: '1' } })
    expect((await stat(existing)).mode & 0o777).toBe(0o644)
    await updateEnvFile(existing, { set: { DATABRICKS_TOKEN: 'dapi1' } }, { secret: true })
    expect((await stat(existing)).mode & 0o777).toBe(0o600)
    expect(await readFile(existing, 'utf8')).toContain('B=2\n')
  })
})
