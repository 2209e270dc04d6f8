import { afterAll, expect } from 'vitest'
import { recordFigures } from './recorder.js'

/** Secrets shorter than this are not searched for: they would match by chance. */
const MIN_SECRET_LENGTH = 8

/** Where a secret was found: which secret, in which output. */
export interface Finding {
  secret: string
  output: string
}

/**
 * A registry of every secret a test file minted or configured (tokens, passwords, client
 * secrets) and every output it captured (log lines, error bodies, metrics), searched at the end:
 * no secret may appear in any output, as is or base64- or URL-encoded.
 */
export class SecretRegistry {
  private readonly secrets = new Map<string, string>()
  private readonly lazySecrets: Array<{ label: string; values: () => Iterable<string> }> = []
  private readonly outputs: Array<{ label: string; text: () => string }> = []

  /** A secret to look for; `label` names it in a finding (never the value). */
  secret(label: string, value: string | undefined): void {
    if (value === undefined || value.length < MIN_SECRET_LENGTH) return
    this.secrets.set(value, label)
  }

  /** Every value `values` gives at the end, e.g. a mock workspace's `minted` list. */
  secretsFrom(label: string, values: () => Iterable<string>): void {
    this.lazySecrets.push({ label, values })
  }

  /** Output to search; a function is read at the end, so log buffers that grow are covered. */
  output(label: string, text: string | (() => string)): void {
    this.outputs.push({ label, text: typeof text === 'string' ? () => text : text })
  }

  private allSecrets(): Map<string, string> {
    const all = new Map(this.secrets)
    for (const { label, values } of this.lazySecrets) {
      for (const value of values()) if (value.length >= MIN_SECRET_LENGTH) all.set(value, label)
    }
    return all
  }

  /** Every (secret, output) pair where the secret shows, in any of its encodings. */
  findings(): Finding[] {
    const found: Finding[] = []
    const secrets = [...this.allSecrets()].map(([value, label]) => ({
      label,
      forms: encodings(value),
    }))
    for (const output of this.outputs) {
      const text = output.text()
      for (const secret of secrets) {
        if (secret.forms.some((form) => text.includes(form))) {
          found.push({ secret: secret.label, output: output.label })
        }
      }
    }
    return found
  }

  /** How much was searched, for the report. */
  size(): { secrets: number; outputs: number; bytes: number } {
    const bytes = this.outputs.reduce((sum, o) => sum + Buffer.byteLength(o.text()), 0)
    return { secrets: this.allSecrets().size, outputs: this.outputs.length, bytes }
  }
}

function encodings(value: string): string[] {
  return [...new Set([value, encodeURIComponent(value), Buffer.from(value).toString('base64')])]
}

/**
 * A registry for one test file, searched after its last test: the file fails if any secret was
 * found, and the figures go to the reliability report under `secrets-<name>`.
 */
export function trackSecrets(name: string): SecretRegistry {
  const registry = new SecretRegistry()
  afterAll(() => {
    const findings = registry.findings()
    recordFigures(`secrets-${name}`, { ...registry.size(), found: findings.length, findings })
    expect(findings).toEqual([])
  })
  return registry
}
