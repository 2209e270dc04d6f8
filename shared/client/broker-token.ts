import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { type Env, envValue } from '../process/env.js'

/** 32 random bytes: as strong as the tokens Vault and the EKS agent hand their callers. */
const GENERATED_TOKEN_BYTES = 32

/** `BROKER_TOKEN_FILE`, else `$XDG_CONFIG_HOME/lakebase-broker/token` (`~/.config/…`). */
export function brokerTokenFile(env: Env): string {
  const explicit = envValue(env, 'BROKER_TOKEN_FILE')
  if (explicit) return explicit
  const configHome = envValue(env, 'XDG_CONFIG_HOME') ?? join(homedir(), '.config')
  return join(configHome, 'lakebase-broker', 'token')
}

/** The token in a token file (surrounding white space dropped), or undefined if there is none. */
export async function readTokenFile(path: string): Promise<string | undefined> {
  try {
    const token = (await readFile(path, 'utf8')).trim()
    return token === '' ? undefined : token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/**
 * The broker's side: the token in `path`, generating a random one there (file mode 0600, its
 * folder 0700) on first start. Two brokers starting at once agree on one token.
 */
export async function ensureTokenFile(path: string): Promise<string> {
  const existing = await readTokenFile(path)
  if (existing) return existing
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const token = randomBytes(GENERATED_TOKEN_BYTES).toString('base64url')
  try {
    await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' })
    return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const raced = await readTokenFile(path)
    if (!raced) throw err
    return raced
  }
}

/** The clients' side: `LAKEBASE_BROKER_TOKEN`, else the broker's token file. */
export async function clientBrokerToken(env: Env): Promise<string | undefined> {
  return envValue(env, 'LAKEBASE_BROKER_TOKEN') ?? (await readTokenFile(brokerTokenFile(env)))
}
