-- Adopts, in place, a database the Python app created (Alembic revisions 001–003), so that
-- 0001_initial finds its tables already in the final shape and only adds what is missing.
-- On any other database (an empty one) every step finds nothing to do.
--
-- Each step checks the catalog, not the Alembic revision, so a deployment stopped at revision
-- 001 or 002, or one whose constraints and indexes carry other names, is adopted the same way.
-- All steps run in the migrator's one transaction: adoption completes or leaves nothing changed.
-- No row is deleted.

-- 1. The Python app stored naive timestamps that meant UTC. They become timestamptz read as UTC
--    (`AT TIME ZONE 'UTC'`, not a cast, which would read them in the session's time zone).
--    One ALTER TABLE per table, so each table is rewritten once.
DO $$
DECLARE
  target record;
BEGIN
  FOR target IN
    SELECT c.table_name,
           string_agg(format(
             'ALTER COLUMN %1$I DROP DEFAULT, '
             'ALTER COLUMN %1$I TYPE timestamp with time zone USING %1$I AT TIME ZONE ''UTC''',
             c.column_name), ', ') AS changes
    FROM information_schema.columns c
    WHERE c.table_schema = current_schema()
      AND (c.table_name, c.column_name) IN (
        ('user_preferences', 'created_at'), ('user_preferences', 'updated_at'),
        ('model_inference_logs', 'created_at'), ('model_inference_logs', 'completed_at'))
      AND c.data_type = 'timestamp without time zone'
    GROUP BY c.table_name
  LOOP
    EXECUTE format('ALTER TABLE %I %s', target.table_name, target.changes);
  END LOOP;
END $$;
--> statement-breakpoint
DO $$
BEGIN
  IF to_regclass(format('%I.user_preferences', current_schema())) IS NOT NULL THEN
    ALTER TABLE user_preferences
      ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN created_at SET NOT NULL,
      ALTER COLUMN updated_at SET DEFAULT now(), ALTER COLUMN updated_at SET NOT NULL;
  END IF;
  IF to_regclass(format('%I.model_inference_logs', current_schema())) IS NOT NULL THEN
    ALTER TABLE model_inference_logs
      ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN created_at SET NOT NULL;
  END IF;
END $$;
--> statement-breakpoint

-- 2. Statuses. The Python app never checked them. A known status in another case or with
--    spaces is normalised. Anything else becomes 'ERROR' (the call did not end in a known way;
--    an unfinished 'PENDING' never will), and the original value is appended to error_message,
--    so no information is lost and the CHECK in step 4 can be added as a plain, validated one.
DO $$
BEGIN
  IF to_regclass(format('%I.model_inference_logs', current_schema())) IS NOT NULL THEN
    UPDATE model_inference_logs
    SET status = upper(btrim(status))
    WHERE status <> upper(btrim(status))
      AND upper(btrim(status)) IN ('SUCCESS', 'ERROR', 'TIMEOUT');

    UPDATE model_inference_logs
    SET status = 'ERROR',
        error_message = concat_ws(E'\n', error_message, format(
          'Adopted from the Python app with status %L, recorded as ERROR.', status))
    WHERE status NOT IN ('SUCCESS', 'ERROR', 'TIMEOUT');
  END IF;
END $$;
--> statement-breakpoint

-- 3. Request ids become unique per user (step 4 adds the constraint). The first row of each
--    (user_id, request_id), by id, keeps its request id; each later one is renamed
--    `<request id>-dup-<its row id>`, the request id cut so the whole fits in varchar(100).
--    The row id makes the new value unique and leads back to the row. Equal request ids of
--    different users are left alone.
DO $$
BEGIN
  IF to_regclass(format('%I.model_inference_logs', current_schema())) IS NOT NULL THEN
    UPDATE model_inference_logs l
    SET request_id = left(l.request_id, 100 - length(d.suffix)) || d.suffix
    FROM (
      SELECT id,
             '-dup-' || id AS suffix,
             row_number() OVER (PARTITION BY user_id, request_id ORDER BY id) AS nth
      FROM model_inference_logs
    ) d
    WHERE l.id = d.id AND d.nth > 1;
  END IF;
END $$;
--> statement-breakpoint

-- 4. Uniqueness. Revision 003 added a second unique constraint on
--    user_preferences(user_id, preference_key). Every unique constraint or unique index over
--    the same set of columns as one of ours is dropped, whatever its name, except ours when it
--    already has our name and column order; then ours is added if missing. So exactly one
--    remains, named as 0001_initial names it.
DO $$
DECLARE
  target record;
  found record;
BEGIN
  FOR target IN
    SELECT t.table_name, t.constraint_name, t.columns
    FROM (VALUES
      ('user_preferences', 'user_preferences_user_id_preference_key_key',
       ARRAY['user_id', 'preference_key']::name[]),
      ('model_inference_logs', 'model_inference_logs_user_id_request_id_key',
       ARRAY['user_id', 'request_id']::name[])
    ) AS t(table_name, constraint_name, columns)
    WHERE to_regclass(format('%I.%I', current_schema(), t.table_name)) IS NOT NULL
  LOOP
    FOR found IN
      SELECT i.indexrelid::regclass AS index_name, con.conname, k.columns
      FROM pg_index i
      CROSS JOIN LATERAL (
        SELECT array_agg(a.attname ORDER BY key.position) AS columns
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS key(attnum, position)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = key.attnum
      ) k
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
      WHERE i.indrelid = format('%I.%I', current_schema(), target.table_name)::regclass
        AND i.indisunique AND NOT i.indisprimary
        AND i.indpred IS NULL AND i.indexprs IS NULL
        AND k.columns @> target.columns AND k.columns <@ target.columns
        AND cardinality(k.columns) = cardinality(target.columns)
        AND (con.conname IS DISTINCT FROM target.constraint_name OR k.columns <> target.columns)
    LOOP
      IF found.conname IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', target.table_name, found.conname);
      ELSE
        EXECUTE format('DROP INDEX %s', found.index_name);
      END IF;
    END LOOP;

    IF NOT EXISTS (
      SELECT FROM pg_constraint
      WHERE conrelid = format('%I.%I', current_schema(), target.table_name)::regclass
        AND conname = target.constraint_name
    ) THEN
      EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I UNIQUE (%s)', target.table_name,
        target.constraint_name,
        (SELECT string_agg(quote_ident(c), ', ') FROM unnest(target.columns) AS c));
    END IF;
  END LOOP;

  -- Nested IFs: SQL does not promise to evaluate `a AND b` left to right.
  IF to_regclass(format('%I.model_inference_logs', current_schema())) IS NOT NULL THEN
    IF NOT EXISTS (
      SELECT FROM pg_constraint
      WHERE conrelid = format('%I.model_inference_logs', current_schema())::regclass
        AND conname = 'model_inference_logs_status_check'
    ) THEN
      ALTER TABLE model_inference_logs ADD CONSTRAINT model_inference_logs_status_check
        CHECK (status IN ('SUCCESS', 'ERROR', 'TIMEOUT'));
    END IF;
  END IF;
END $$;
--> statement-breakpoint

-- 5. Superseded indexes. The Python app indexed user_id, endpoint_name and request_id one
--    column at a time (revision 003 added a second one on model_inference_logs.user_id). Every
--    read is now scoped to one user and served by the composite indexes and unique constraints
--    whose leading column is user_id, so every plain single-column btree index on one of those
--    columns is dropped, whatever its name. Other indexes a deployment added are kept.
DO $$
DECLARE
  found record;
BEGIN
  FOR found IN
    SELECT i.indexrelid::regclass AS index_name
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid IN (
        SELECT c.oid FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace
          AND c.relname IN ('user_preferences', 'model_inference_logs'))
      AND i.indnatts = 1 AND NOT i.indisunique AND NOT i.indisprimary
      AND i.indpred IS NULL AND i.indexprs IS NULL
      AND am.amname = 'btree'
      AND a.attname IN ('user_id', 'endpoint_name', 'request_id')
      AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = i.indexrelid)
  LOOP
    EXECUTE format('DROP INDEX %s', found.index_name);
  END LOOP;
END $$;
--> statement-breakpoint

-- 6. Alembic's bookkeeping is dropped when it records one of the Python app's revisions: left
--    behind, it would tell Alembic that a schema exists which no longer does, and an `alembic
--    upgrade` would then alter tables it no longer describes; without it, Alembic fails loudly
--    on the existing tables instead. A table recording any other revision belongs to some other
--    Alembic project sharing this schema and is left alone.
DO $$
BEGIN
  IF to_regclass(format('%I.alembic_version', current_schema())) IS NOT NULL THEN
    IF EXISTS (SELECT FROM alembic_version WHERE version_num IN ('001', '002', '003'))
       AND NOT EXISTS (SELECT FROM alembic_version WHERE version_num NOT IN ('001', '002', '003'))
    THEN
      DROP TABLE alembic_version;
    END IF;
  END IF;
END $$;
