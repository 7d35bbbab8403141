-- Read-only access for the data team on a ClickHouse SERVER (chdb, the embedded engine, has no users
-- or grants). Applied by `python -m gateway setup` when CLICKHOUSE_URL is http(s)://, and by the
-- server's init scripts in container deployments. Everything is idempotent.
--
-- Create people like this (not done here, passwords do not belong in the repository):
--   CREATE USER alice IDENTIFIED WITH sha256_password BY '...' DEFAULT ROLE analyst SETTINGS PROFILE 'analyst';
--   GRANT analyst TO alice;
--   ALTER USER alice DEFAULT ROLE analyst;
CREATE ROLE IF NOT EXISTS analyst;

GRANT SELECT ON {database}.usage_events TO analyst;

GRANT SELECT ON {database}.usage_hourly TO analyst;

-- Bounded queries: an analyst's mistake must not take the server down.
CREATE SETTINGS PROFILE IF NOT EXISTS analyst
    SETTINGS max_execution_time = 60,
             max_memory_usage = 4000000000,
             max_result_rows = 1000000,
             result_overflow_mode = 'throw',
             readonly = 1
    TO analyst;

CREATE QUOTA IF NOT EXISTS analyst
    FOR INTERVAL 1 hour MAX queries = 2000, result_rows = 100000000, execution_time = 3600
    TO analyst;

-- Optional per-tenant restriction: a role that sees one tenant's rows only (repeat per tenant).
--   CREATE ROLE IF NOT EXISTS analyst_tenant_acme;
--   GRANT SELECT ON {database}.usage_events TO analyst_tenant_acme;
--   CREATE ROW POLICY IF NOT EXISTS acme_only ON {database}.usage_events
--       FOR SELECT USING user_id IN (SELECT user_id FROM {database}.tenant_users WHERE tenant = 'acme')
--       TO analyst_tenant_acme;
