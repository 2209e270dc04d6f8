import type postgres from 'postgres'

export interface ColumnShape {
  table: string
  column: string
  type: string
  nullable: boolean
  default: string | null
}

export interface ConstraintShape {
  table: string
  name: string
  definition: string
}

export interface IndexShape {
  table: string
  name: string
  definition: string
  /** Key columns in index order. */
  columns: string[]
  unique: boolean
  /** The constraint this index implements, if any. */
  constraint: string | null
}

/** What the catalog says about the tables in the connection's current schema, sorted by name. */
export interface SchemaShape {
  tables: string[]
  columns: ColumnShape[]
  constraints: ConstraintShape[]
  indexes: IndexShape[]
}

/** Reads the tables, columns, constraints and indexes of `sql`'s current schema. */
export async function describeSchema(sql: postgres.Sql): Promise<SchemaShape> {
  const tables = await sql<{ name: string }[]>`
    select c.relname as name from pg_class c
    where c.relnamespace = current_schema()::regnamespace and c.relkind = 'r'
    order by c.relname collate "C"`
  const columns = await sql<ColumnShape[]>`
    select c.relname as table, a.attname as column,
           format_type(a.atttypid, a.atttypmod) as type,
           not a.attnotnull as nullable,
           pg_get_expr(d.adbin, d.adrelid) as default
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where c.relnamespace = current_schema()::regnamespace and c.relkind = 'r'
      and a.attnum > 0 and not a.attisdropped
    order by c.relname collate "C", a.attnum`
  const constraints = await sql<ConstraintShape[]>`
    select c.relname as table, con.conname as name, pg_get_constraintdef(con.oid) as definition
    from pg_constraint con
    join pg_class c on c.oid = con.conrelid
    where c.relnamespace = current_schema()::regnamespace
    order by c.relname collate "C", con.conname collate "C"`
  const indexes = await sql<IndexShape[]>`
    select c.relname as table, ic.relname as name, pg_get_indexdef(i.indexrelid) as definition,
           (select array_agg(a.attname order by k.position)
            from unnest(i.indkey::int2[]) with ordinality as k(attnum, position)
            join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum) as columns,
           i.indisunique as unique,
           (select con.conname from pg_constraint con where con.conindid = i.indexrelid
              and con.conrelid = i.indrelid) as constraint
    from pg_index i
    join pg_class c on c.oid = i.indrelid
    join pg_class ic on ic.oid = i.indexrelid
    where c.relnamespace = current_schema()::regnamespace
    order by c.relname collate "C", ic.relname collate "C"`
  return {
    tables: tables.map((t) => t.name),
    columns: [...columns],
    constraints: [...constraints],
    indexes: [...indexes],
  }
}
