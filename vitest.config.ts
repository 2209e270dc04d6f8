import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import tsconfig from './tsconfig.json' with { type: 'json' }

/**
 * The test files that start real processes or wait on real time, run with full counts: the
 * `acceptance` project. Everything else runs in this process against the suite's real Postgres,
 * on a clock the test moves: the `fast` project, `npm run test:fast`, the loop to live in (about
 * 30 s of tests; the acceptance files take over three minutes). A new file that spawns a
 * process or sleeps belongs on this list.
 */
const ACCEPTANCE = [
  'test/reliability/**/*.test.ts',
  'test/browser/**/*.test.ts',
  'test/deploy/apps-serve.test.ts',
  'test/deploy/wrangler.test.ts',
  'test/broker/against-a-workspace.test.ts',
  'test/broker/main.test.ts',
  'test/functions/rotation-under-load.test.ts',
  'test/functions/migrate-after-refusal.test.ts',
  'test/cli/start.test.ts',
  'test/cli/repository-node.test.ts',
  'test/cli/doctor.test.ts',
  'test/cli/configure.test.ts',
  'test/support-tests/process.test.ts',
  'test/package/**/*.test.ts',
  'test/cli/**/*.test.ts',
  'test/cli/start-sigkill.test.ts',
  'test/cli/serve.test.ts',
  'test/broker/pgpass-file.test.ts',
  'test/broker/pgbouncer/pgbouncer.test.ts',
  'test/broker/pgbouncer/process.test.ts',
  'test/broker/providers/embedded-server-log.test.ts',
  'test/shared/process/http-server.test.ts',
  'test/shared/client/tls.test.ts',
]

/**
 * The suites that hold the package to its promises where a peer's major matters, run a second
 * time on the oldest major each peer range allows (the `oldest-peers` project resolves `postgres`,
 * `@hono/node-server` and `msw` to the 3.4.9, 1.19.19 and 2.15.0 this repository also installs):
 * createSql through rotations on the strict Postgres, 28P01, killed backends and the TLS matrix
 * with its connection counts; the early answers (413 with the body drained), the header fast path
 * and `listen`; the fault kit and the workspace calls under MSW. The other projects run the newest.
 */
const OLDEST_PEERS = [
  'test/peer-majors.test.ts',
  'test/shared/postgres/**/*.test.ts',
  'test/shared/drivers-under-rotation.test.ts',
  'test/shared/client/tls.test.ts',
  'test/functions/database-errors.test.ts',
  'test/functions/preferences.test.ts',
  'test/shared/process/http-server.test.ts',
  'test/shared/hono/request-header.test.ts',
  'test/broker/server.test.ts',
  'test/broker/fast-path.test.ts',
  'test/testing/workspace/workspace.test.ts',
  'test/broker/providers/databricks.test.ts',
]
/** Each peer and the npm alias its oldest major is installed under (package.json). */
const OLDEST_ALIASES = [
  { find: /^postgres$/, replacement: 'postgres-3' },
  { find: /^@hono\/node-server$/, replacement: '@hono/node-server-1' },
  { find: /^msw(\/.*)?$/, replacement: 'msw-2$1' },
]

/** What the projects share. Inline projects do not inherit the root's settings. */
const common = {
  resolve: {
    // The package's entries (`lakebase-broker/…`) point at the build (dist/); inside this
    // repository they resolve to the TypeScript source, as tsconfig.json's `paths` say, so that no
    // build is needed first. test/package/ checks the built, packed package itself.
    alias: Object.entries(tsconfig.compilerOptions.paths).map(([name, paths]) => ({
      find: new RegExp(`^${name}$`),
      replacement: fileURLToPath(new URL(paths[0] as string, import.meta.url)),
    })),
  },
  test: {
    setupFiles: ['test/support/mark-processes.ts', 'test/support/no-unhandled-rejections.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks' as const,
  },
}

export default defineConfig({
  test: {
    // The root's global setup runs once for both projects and provides to both. The leftover
    // check comes first, so that its teardown runs last, after Postgres has been stopped.
    globalSetup: ['test/support/global-leaks.ts', 'test/support/global-postgres.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        ...common,
        test: {
          ...common.test,
          name: 'fast',
          include: ['test/**/*.test.ts'],
          exclude: ACCEPTANCE,
        },
      },
      {
        ...common,
        test: { ...common.test, name: 'acceptance', include: ACCEPTANCE },
      },
      {
        ...common,
        resolve: { alias: [...common.resolve.alias, ...OLDEST_ALIASES] },
        test: { ...common.test, name: 'oldest-peers', include: OLDEST_PEERS },
      },
    ],
  },
})
