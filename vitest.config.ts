import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import tsconfig from './tsconfig.json' with { type: 'json' }

export default defineConfig({
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
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-postgres.ts'],
    setupFiles: ['test/support/no-unhandled-rejections.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
