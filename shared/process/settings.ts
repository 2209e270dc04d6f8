import { z } from 'zod'
import { ConfigError } from './config-error.js'
import type { Env } from './env.js'

/**
 * One environment variable a command reads: how it is parsed and how it is documented. The
 * same definition parses the value, prints `--help` and writes the README's table, so the three
 * cannot drift apart.
 */
export interface Setting<T extends z.ZodType = z.ZodType> {
  /** Parses the value; an empty or blank variable counts as unset. */
  schema: T
  /** What it does, in Markdown, for `--help` (backticks dropped) and the README. */
  doc: string
  /**
   * The default as a reader should see it, in Markdown, when it is not simply the schema's own
   * default (which is shown by itself): e.g. "looked up", "`DATABRICKS_APP_PORT`, else `8000`".
   */
  shownDefault?: string
}

/** The settings of one command (or one group of them), by variable name. */
export type Settings = Record<string, Setting>

/** The parsed values of a group of settings. */
export type SettingsValues<S extends Settings> = { [K in keyof S]: z.output<S[K]['schema']> }

/** A setting; a helper only so that the schema's type is kept. */
export function setting<T extends z.ZodType>(
  schema: T,
  doc: string,
  shownDefault?: string,
): Setting<T> {
  return shownDefault === undefined ? { schema, doc } : { schema, doc, shownDefault }
}

/** A number given in the environment: coerced from text, and never NaN, Infinity or blank. */
export function numberSetting(): z.ZodCoercedNumber<unknown> {
  return z.coerce.number({ error: 'must be a number' })
}

/** `true` or `false`, as text. */
export const booleanText = z.enum(['true', 'false'], { error: 'must be true or false' })

/** Blank text counts as unset: `.env` files and app.yaml often carry `NAME=` placeholders. */
function blankToUndefined(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value
}

/**
 * Parses every setting of `settings` from `env`, all at once, so that one run names every wrong
 * variable. The message names the variables and what is wrong with them, never their values (a
 * mistyped variable may hold a secret).
 *
 * @throws ConfigError naming each offending variable.
 */
export function parseSettings<S extends Settings>(
  settings: S,
  env: Env,
  context?: string,
): SettingsValues<S> {
  const shape = Object.fromEntries(
    Object.entries(settings).map(([name, s]) => [name, z.preprocess(blankToUndefined, s.schema)]),
  )
  const input = Object.fromEntries(
    Object.keys(settings).map((name) => [
      name,
      typeof env[name] === 'string' ? env[name].trim() : undefined,
    ]),
  )
  const parsed = z.object(shape).safeParse(input)
  if (parsed.success) return parsed.data as SettingsValues<S>
  const problems = parsed.error.issues.map((issue) => {
    const [name] = issue.path
    return `${String(name)} ${issue.message}`
  })
  throw new ConfigError(
    `invalid setting${problems.length > 1 ? 's' : ''}${context ? ` (${context})` : ''}: ${problems.join('; ')}`,
    'correct the variable in the environment or .env.local (see --help for each setting)',
  )
}

/** The default a reader sees: the stated one, else the schema's own, else none. */
export function shownDefault(s: Setting): string | undefined {
  if (s.shownDefault !== undefined) return s.shownDefault
  const parsed = s.schema.safeParse(undefined)
  if (!parsed.success || parsed.data === undefined) return undefined
  return `\`${String(parsed.data)}\``
}

const plain = (markdown: string) => markdown.replaceAll('`', '')

/** `--help` lines are folded to this width, the width of a classic terminal. */
const HELP_WIDTH = 100

/** The settings as `--help` lists them: name, what each does, and its default. */
export function settingsHelp(settings: Settings): string {
  const names = Object.keys(settings)
  const indent = Math.max(0, ...names.map((n) => n.length)) + 4
  return names
    .map((name) => {
      const s = settings[name] as Setting
      const fallback = shownDefault(s)
      const doc = plain(s.doc) + (fallback === undefined ? '' : ` (default: ${plain(fallback)})`)
      return fold(`  ${name.padEnd(indent - 2)}${doc}`, indent)
    })
    .join('\n')
}

/** Folds a line at spaces to {@link HELP_WIDTH}, indenting the continuation lines. */
function fold(line: string, indent: number): string {
  const lines: string[] = []
  let current = ''
  for (const word of line.split(/(?<=\S) (?=\S)/)) {
    if (current !== '' && current.length + 1 + word.length > HELP_WIDTH) {
      lines.push(current)
      current = ' '.repeat(indent) + word
    } else current = current === '' ? word : `${current} ${word}`
  }
  lines.push(current)
  return lines.join('\n')
}

/** The settings as the README's Markdown table. */
export function settingsTable(settings: Settings): string {
  const rows = Object.entries(settings).map(
    ([name, s]) => `| \`${name}\` | ${shownDefault(s) ?? '—'} | ${s.doc.replaceAll('|', '\\|')} |`,
  )
  return ['| variable | default | what it does |', '|---|---|---|', ...rows].join('\n')
}
