import { defineConfig } from 'drizzle-kit'

/** drizzle-kit's settings: `npm run db:generate` writes a migration for each schema change. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './functions/db/schema.ts',
  out: './migrations',
})
