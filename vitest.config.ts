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
  'test/scripts/start.test.ts',
  'test/scripts/doctor.test.ts',
  'test/scripts/configure.test.ts',
  'test/support-tests/process.test.ts',
  'test/package/**/*.test.ts',
  'test/cli/**/*.test.ts',
  'test/scripts/start-sigkill.test.ts',
  'test/scripts/serve.test.ts',
  'test/broker/pgpass-file.test.ts',
  'test/shared/http-server.test.ts',
  'test/shared/tls.test.ts',
]

/**
 * The suites that hold createSql to its promises (rotations on the strict Postgres, 28P01 retried,
 * killed backends, the TLS matrix with its connection counts), run a second time on postgres.js 3:
 * the `postgres-3` project resolves `postgres` to the 3.4.9 this repository also installs, so one
 * code path is tested on both majors the peer range allows.
 */
const POSTGRES_3 = [
  'test/shared/postgres/**/*.test.ts',
  'test/shared/drivers-under-rotation.test.ts',
  'test/shared/tls.test.ts',
  'test/functions/database-errors.test.ts',
  'test/functions/preferences.test.ts',
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
        resolve: {
          alias: [
            ...common.resolve.alias,
            {
              find: /^postgres$/,
              replacement: fileURLToPath(
                new URL('./node_modules/postgres-3/src/index.js', import.meta.url),
              ),
            },
          ],
        },
        test: { ...common.test, name: 'postgres-3', include: POSTGRES_3 },
      },
    ],
  },
})
