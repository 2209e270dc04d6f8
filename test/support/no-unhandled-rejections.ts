import { afterAll } from 'vitest'

// A password function that rejects inside postgres.js surfaces only as an unhandled rejection;
// vitest already fails the run on those, and this makes the reason explicit in the output.
const seen: unknown[] = []
const record = (reason: unknown) => seen.push(reason)
process.on('unhandledRejection', record)

afterAll(() => {
  process.off('unhandledRejection', record)
  if (seen.length > 0) throw new Error(`unhandled rejections: ${seen.map(String).join('; ')}`)
})
