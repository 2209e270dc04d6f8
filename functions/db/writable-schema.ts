import type postgres from 'postgres'

/** Where the tables of this login go, and whether this call had to create that schema. */
export interface WritableSchema {
  schema: string
  created: boolean
}

/**
 * Makes sure the login can create tables in the schema that unqualified names resolve to.
 *
 * A Databricks App's database resource grants the app's role CONNECT and CREATE on the database,
 * which lets it create schemas, but since Postgres 15 nobody but the owner may create tables in
 * `public`. The default `search_path` is `"$user", public`, so a schema named after the role is
 * used first by every connection of that role: creating it (only when the current schema is not
 * writable) gives the migrations and the functions one place to live, with no grant by an admin
 * and no setting. A login that may already create in its current schema (the instance owner, a
 * local Postgres, a role that owns `public`) changes nothing.
 *
 * @throws the Postgres error when the role may not create a schema either (42501), or an Error
 *   when `search_path` does not start from `"$user"`, so the new schema would not be used.
 */
export async function ensureWritableSchema(sql: postgres.Sql): Promise<WritableSchema> {
  const [state] = await sql<{ role: string; schema: string | null; writable: boolean }[]>`
    select current_user as role, current_schema() as schema,
      coalesce(has_schema_privilege(current_schema(), 'CREATE'), false) as writable`
  if (state === undefined) throw new Error('no answer to the schema query')
  if (state.writable && state.schema !== null) return { schema: state.schema, created: false }

  await sql.unsafe(`create schema if not exists ${quoteIdent(state.role)}`)
  const [after] = await sql<{ schema: string | null }[]>`select current_schema() as schema`
  if (after?.schema !== state.role) {
    throw new Error(
      `the role ${state.role} may not create tables in schema ${state.schema ?? '(none)'}, and its search_path does not start with "$user"; grant CREATE on that schema or reset search_path`,
    )
  }
  return { schema: state.role, created: true }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
