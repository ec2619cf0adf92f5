-- Least privilege: the web reads, the sink writes, neither owns the schema.
-- Group roles (NOLOGIN) are created here once per cluster; login roles with passwords are the
-- operator's (the local stack makes `bikeshare_web` and `bikeshare_sink` without passwords):
--   CREATE ROLE bikeshare_web LOGIN PASSWORD '…' IN ROLE bikeshare_reader;
--   ALTER ROLE bikeshare_web SET default_transaction_read_only = on;
--   CREATE ROLE bikeshare_sink LOGIN PASSWORD '…' IN ROLE bikeshare_writer;
-- Roles are per cluster while migrations run per database (possibly several at once): tolerate a twin.
DO $$
BEGIN
    CREATE ROLE bikeshare_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
DO $$
BEGIN
    CREATE ROLE bikeshare_writer NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO bikeshare_reader, bikeshare_writer;

-- The reader: SELECT only (LISTEN needs no grant).
GRANT SELECT ON ALL TABLES IN SCHEMA public TO bikeshare_reader;

-- The writer: rows, not schema (migrations run as the schema's owner). It reads what it joins and
-- takes schema_migrations' advisory lock at start; temporary staging tables need only TEMPORARY,
-- which every role has on the database by default.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO bikeshare_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO bikeshare_writer;

-- Tables later migrations create (as the same owner) get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO bikeshare_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO bikeshare_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO bikeshare_writer;
