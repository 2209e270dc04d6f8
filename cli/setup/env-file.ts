import { chmod, readFile, writeFile } from 'node:fs/promises'

/** What to change in a dotenv file. */
export interface EnvEdit {
  /** Variables to set: an existing line is replaced in place, a new one is appended. */
  set: Readonly<Record<string, string>>
  /** Variables to retire: their lines are commented out (kept, so nothing is lost), with why. */
  unset?: Readonly<Record<string, string>>
}

/** Heads the block of variables a tool appends, so a reader knows where they came from. */
export const APPENDED_HEADER = '# Set by npm run configure'

/** Owner read/write only: the file may hold a workspace token. */
const PRIVATE_MODE = 0o600

const ASSIGNMENT = /^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/

/**
 * Applies `edit` to the text of a dotenv file, keeping everything else exactly as it was:
 * comments, blank lines, unrelated variables and their order. A variable set twice keeps its
 * first line (updated) and loses the later duplicates, which would otherwise win when parsed.
 */
export function mergeEnvText(text: string, edit: EnvEdit): string {
  const lines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/)
  const out: string[] = []
  const written = new Set<string>()
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    const match = ASSIGNMENT.exec(line)
    if (!match) {
      out.push(line)
      continue
    }
    const [, prefix = '', name = '', rest = ''] = match
    // A quoted value may run over several lines; they belong to this assignment.
    const end = closingLine(lines, i, rest)
    const block = lines.slice(i, end + 1)
    i = end
    if (name in edit.set) {
      if (!written.has(name)) out.push(`${prefix}${name}=${quote(edit.set[name] as string)}`)
      written.add(name)
    } else if (edit.unset && name in edit.unset) {
      out.push(`# ${edit.unset[name]}:`, ...block.map((l) => `# ${l}`))
    } else {
      out.push(...block)
    }
  }
  const appended = Object.keys(edit.set).filter((name) => !written.has(name))
  if (appended.length > 0) {
    if (out.length > 0 && out[out.length - 1]?.trim() !== '') out.push('')
    out.push(APPENDED_HEADER)
    for (const name of appended) out.push(`${name}=${quote(edit.set[name] as string)}`)
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`
}

/**
 * Reads the dotenv file at `path` (missing is empty), applies `edit`, and writes it back. A new
 * file is created owner-only; with `secret` an existing one is made owner-only too.
 */
export async function updateEnvFile(
  path: string,
  edit: EnvEdit,
  options: { secret?: boolean } = {},
): Promise<void> {
  await writeFile(path, mergeEnvText(await readEnvText(path), edit), { mode: PRIVATE_MODE })
  if (options.secret) await chmod(path, PRIVATE_MODE)
}

/** The text of the dotenv file at `path`; empty when there is none. */
export async function readEnvText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw err
  }
}

/**
 * The variables `configure` wrote itself: those assigned in a block under {@link APPENDED_HEADER}
 * (up to the next blank line). Any other line is the user's, which configure keeps as written.
 */
export function configuredNames(text: string): Set<string> {
  const names = new Set<string>()
  let inBlock = false
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === APPENDED_HEADER) inBlock = true
    else if (line.trim() === '') inBlock = false
    else if (inBlock) {
      const name = ASSIGNMENT.exec(line)?.[2]
      if (name !== undefined) names.add(name)
    }
  }
  return names
}

/** The index of the line where the value that starts with `rest` on line `start` ends. */
function closingLine(lines: readonly string[], start: number, rest: string): number {
  const value = rest.trimStart()
  const q = value[0]
  if (q !== '"' && q !== "'" && q !== '`') return start
  if (value.indexOf(q, 1) !== -1) return start
  for (let j = start + 1; j < lines.length; j++) {
    if ((lines[j] as string).includes(q)) return j
  }
  return start
}

/**
 * A value as Node's parseEnv (and dotenv) reads it back unchanged. Neither unescapes a quote
 * inside quotes, so the quote character is one the value does not contain.
 */
function quote(value: string): string {
  if (/^[A-Za-z0-9_./:@+,=-]*$/.test(value)) return value
  const multiline = /[\r\n]/.test(value)
  if (!value.includes("'") && !multiline) return `'${value}'`
  if (!value.includes('"')) return `"${value.replaceAll('\r', '').replaceAll('\n', '\\n')}"`
  if (!value.includes('`') && !multiline) return `\`${value}\``
  throw new Error('a value with every kind of quote cannot be written to a dotenv file')
}
