import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEnv } from 'node:util'

/** Environment variables as one flat record; every command reads its settings from one. */
export type Env = Record<string, string | undefined>

/** The file of local settings every command reads, in the project root. */
export const ENV_FILE = '.env.local'

/**
 * The environment a command runs with: the process environment over `.env.local` in `cwd`
 * (real environment variables win, as with every dotenv tool). A missing file is no error.
 */
export function loadEnv(cwd: string = process.cwd(), env: Env = process.env): Env {
  return { ...readEnvFile(join(cwd, ENV_FILE)), ...env }
}

/** The variables of one dotenv file, or none when it does not exist. */
export function readEnvFile(path: string): Env {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
  return parseEnv(text)
}

/** An env value, with empty strings treated as unset (as shells and dotenv files produce them). */
export function envValue(env: Env, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]
    if (value !== undefined && value.trim() !== '') return value.trim()
  }
  return undefined
}
