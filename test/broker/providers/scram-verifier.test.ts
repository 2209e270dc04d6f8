import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { scramSha256Verifier } from '../../../broker/providers/scram-verifier.js'
import { adminSql } from '../../support/postgres.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

describe('scramSha256Verifier', () => {
  it('makes the verifier Postgres itself makes of a password, given its salt and count', async () => {
    const admin = adminSql()
    cleanup.push(() => admin.end())
    const role = `scram-${randomBytes(4).toString('hex')}`
    cleanup.push(() => admin.unsafe(`drop role if exists "${role}"`))
    const password = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJkZXYifQ.c2lnbmF0dXJl'
    // Postgres hashes a cleartext password itself when it is told one (a test's own password).
    await admin.begin(async (tx) => {
      await tx.unsafe(`set local password_encryption = 'scram-sha-256'`)
      await tx.unsafe(`create role "${role}" login password '${password}'`)
    })
    const [row] = await admin<{ stored: string }[]>`
      select rolpassword as stored from pg_authid where rolname = ${role}`
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(row?.stored ?? '') ?? []
    expect(iterations).toBe('4096')
    expect(
      await scramSha256Verifier(
        password,
        Buffer.from(salt as string, 'base64'),
        Number(iterations),
      ),
    ).toBe(row?.stored)
  })

  it('makes verifiers only for printable ASCII, which SASLprep leaves as it is', async () => {
    await expect(scramSha256Verifier('tab\tin')).rejects.toThrow(/printable ASCII/)
    await expect(scramSha256Verifier('pässword')).rejects.toThrow(/printable ASCII/)
  })
})
