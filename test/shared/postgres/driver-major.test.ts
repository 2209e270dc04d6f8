import postgres from 'postgres'
import { expect, it } from 'vitest'

it('runs on the postgres.js major its project names (postgres-3: 3.4.9, else 4)', async ({
  task,
}) => {
  // Builds a client without connecting; postgres.js 4 added `stats` to it.
  const sql = postgres({ max: 1 })
  try {
    const major = 'stats' in sql ? 4 : 3
    expect(major).toBe(task.file.projectName === 'postgres-3' ? 3 : 4)
  } finally {
    await sql.end({ timeout: 0 })
  }
})
