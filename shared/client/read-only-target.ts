/**
 * A Lakebase target `X` is also served read-only as `X` + this, on its read-only host (a
 * Provisioned instance's `read_only_dns`, an Autoscaling endpoint's `read_only_host`):
 * `default` → `default-ro`. The broker names its companions so, and the driver entries'
 * `readOnly: true` asks for them so.
 */
export const READ_ONLY_SUFFIX = '-ro'

/** The name of `target`'s read-only companion. */
export function readOnlyTargetName(target: string): string {
  return `${target}${READ_ONLY_SUFFIX}`
}
