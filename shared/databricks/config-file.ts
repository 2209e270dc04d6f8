import { readFile } from 'node:fs/promises'

/** The profiles of a `~/.databrickscfg`: section name → its keys (lower-cased) and values. */
export type ConfigProfiles = ReadonlyMap<string, Readonly<Record<string, string>>>

/**
 * Parses the INI text of a Databricks config file: `[section]` headers, `key = value` (or
 * `key: value`) lines, and whole-line comments starting with `#` or `;`. `[DEFAULT]` is an
 * ordinary profile named `DEFAULT`; its keys are not inherited by other sections, so a profile
 * never mixes another workspace's host or token into its own.
 *
 * Hand-written because the format is tiny and an INI dependency would be larger than this.
 *
 * @throws Error naming the line number (never its content, which may be a token) when a line is
 *   neither of those.
 */
export function parseDatabricksConfig(text: string): ConfigProfiles {
  const profiles = new Map<string, Record<string, string>>()
  let current: Record<string, string> | undefined
  const lines = text.split(/\r?\n/)
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[([^\]]+)\]$/.exec(line)
    if (header?.[1] !== undefined) {
      const name = header[1].trim()
      current = profiles.get(name) ?? {}
      profiles.set(name, current)
      continue
    }
    const separator = firstIndexOf(line, ['=', ':'])
    if (separator <= 0 || current === undefined) {
      throw new Error(
        `the Databricks config file has an unreadable line ${index + 1}; expected [profile] or key = value inside a profile`,
      )
    }
    current[line.slice(0, separator).trim().toLowerCase()] = line.slice(separator + 1).trim()
  }
  return profiles
}

/**
 * Reads and parses the config file at `path`; undefined when there is no such file, which is the
 * usual case on servers and in Databricks Apps.
 */
export async function readDatabricksConfig(path: string): Promise<ConfigProfiles | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`cannot read the Databricks config file ${path}`, { cause: err })
  }
  try {
    return parseDatabricksConfig(text)
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`)
  }
}

function firstIndexOf(text: string, needles: readonly string[]): number {
  const found = needles.map((needle) => text.indexOf(needle)).filter((index) => index >= 0)
  return found.length === 0 ? -1 : Math.min(...found)
}
