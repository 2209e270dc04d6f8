import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    alias: {
      // The package's `./testing` export points at the build (dist/); inside this repository
      // tests run against the TypeScript source, so that no build is needed first.
      'lakebase-broker/testing': fileURLToPath(new URL('./testing/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-postgres.ts'],
    setupFiles: ['test/support/no-unhandled-rejections.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
