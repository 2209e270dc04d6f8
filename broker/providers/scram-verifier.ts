import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'

/** Postgres's own default (`scram_iterations`), so a verifier made here costs a login what its own would. */
export const SCRAM_ITERATIONS = 4096
/** Postgres's salt length for the verifiers it makes (`SCRAM_DEFAULT_SALT_LEN`), bytes. */
const SALT_BYTES = 16
/** SHA-256's output, which is the length of every key in the verifier, bytes. */
const KEY_BYTES = 32

/** SASLprep (RFC 4013), which Postgres applies at login, leaves printable ASCII as it is. */
const SASLPREP_UNCHANGED = /^[\x20-\x7e]*$/

const derive = promisify(pbkdf2)

/**
 * The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802 with SHA-256, RFC 7677), in
 * its `pg_authid` form: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, each base64.
 * `ALTER ROLE … PASSWORD '<verifier>'` stores it as it is, as psql's `\password` does, so the
 * password itself is in no statement text, which Postgres may write to its log
 * (`log_statement`, or the statement of an error).
 *
 * @param password printable ASCII, which SASLprep leaves unchanged (a JWT is): anything else is
 *   refused rather than hashed differently from how Postgres would hash it at login.
 */
export async function scramSha256Verifier(
  password: string,
  salt: Buffer = randomBytes(SALT_BYTES),
  iterations = SCRAM_ITERATIONS,
): Promise<string> {
  if (!SASLPREP_UNCHANGED.test(password)) {
    throw new Error('a SCRAM verifier is made here only for printable ASCII passwords')
  }
  const salted = await derive(password, salt, iterations, KEY_BYTES, 'sha256')
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest()
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest()
  const serverKey = hmac(salted, 'Server Key')
  const b64 = (bytes: Buffer) => bytes.toString('base64')
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`
}
