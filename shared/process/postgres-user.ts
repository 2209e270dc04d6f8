import { chmod, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

/**
 * Postgres and PgBouncer refuse to run as root, so under root they run as the `postgres` user,
 * which must be able to reach their binaries and folders. A checkout in a private folder
 * (`mktemp -d` makes 0700) or a home folder hides them; this adds the search bit (o+x, not
 * listing) to every folder from each of `paths` up to `/` that lacks it. Does nothing when not
 * root.
 */
export async function letPostgresUserReach(...paths: string[]): Promise<void> {
  if (process.getuid?.() !== 0) return
  for (const path of paths) {
    for (let dir = resolve(path); ; dir = dirname(dir)) {
      const { mode } = await stat(dir)
      if ((mode & 0o001) === 0) await chmod(dir, mode | 0o001)
      if (dirname(dir) === dir) break
    }
  }
}
