"""POST /api/v1/raw/mysql: an operator's read-only SQL, and every way to abuse it refused.

Each attack is sent to a running API over SQLite and over MariaDB; it must come back 400
(refused, or stopped at its time limit), and the row count of every table of both stores
must be the same afterwards. Legitimate analytical queries answer their rows.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api._generic_support import ADMIN, WRITER, Backend, backend_fixture, row_counts

backend = backend_fixture(["sqlite", "mariadb"])

ATTACKS: list[str] = [
    # stacked statements
    "SELECT 1; DROP TABLE datasets",
    "SELECT * FROM datasets; DELETE FROM datasets",
    "SELECT 1;\nUPDATE datasets SET symbol = 'X'",
    "select 1;;delete from candles",
    "SELECT 1; ATTACH DATABASE '/tmp/evil.db' AS evil",
    # comment and quoting tricks
    "SELECT 1 /*! ; DROP TABLE datasets */",
    "SELECT * FROM datasets -- ; DROP TABLE datasets",
    "SELECT 1 # ; DELETE FROM datasets",
    "/**/DELETE/**/FROM/**/datasets",
    "SELECT 'a'; DROP TABLE datasets; --'",
    "SELECT 'it''s'; DELETE FROM datasets",
    "SELECT `id` FROM `datasets`; DROP TABLE `datasets`",
    'SELECT "id" FROM "datasets"; DELETE FROM "datasets"',
    "SELECT 'a\\\\'; DELETE FROM datasets; -- '",
    "SELECT 1\x00; DROP TABLE datasets",
    # data changes, plain and disguised
    "DELETE FROM datasets",
    "UPDATE candles SET close = 0",
    "INSERT INTO datasets (id) VALUES ('x')",
    "REPLACE INTO datasets (id) VALUES ('x')",
    "DROP TABLE audit_logs",
    "TRUNCATE TABLE health_metrics",
    "ALTER TABLE datasets ADD COLUMN x INT",
    "CREATE TABLE evil (x INT)",
    "CREATE TEMPORARY TABLE evil AS SELECT * FROM datasets",
    "RENAME TABLE datasets TO gone",
    "GRANT ALL ON *.* TO 'x'@'%'",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE datasets",
    "CALL evil()",
    "DO SLEEP(5)",
    "LOCK TABLES datasets WRITE",
    "SET GLOBAL read_only = 0",
    "SET SESSION TRANSACTION READ WRITE",
    "PRAGMA writable_schema = 1",
    "VACUUM",
    "BEGIN",
    "SHOW TABLES",
    "EXPLAIN SELECT * FROM datasets",
    # writes hidden in CTEs and subqueries
    "WITH x AS (DELETE FROM datasets RETURNING *) SELECT * FROM x",
    "WITH x AS (UPDATE datasets SET symbol = 'X' RETURNING *) SELECT * FROM x",
    "WITH x AS (INSERT INTO datasets (id) VALUES ('x') RETURNING *) SELECT 1",
    "SELECT * FROM (DELETE FROM datasets RETURNING id) AS t",
    "SELECT (SELECT 1 FROM datasets FOR UPDATE)",
    # files
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT * FROM datasets INTO OUTFILE '/tmp/petrosa_out'",
    "SELECT 'x' INTO DUMPFILE '/tmp/petrosa_dump'",
    "SELECT readfile('/etc/passwd')",
    "SELECT writefile('/tmp/petrosa_w', 'x')",
    "SELECT load_extension('/tmp/evil.so')",
    # sleeps and locks
    "SELECT SLEEP(5)",
    "SeLeCt SlEeP(5)",
    "SELECT BENCHMARK(100000000, MD5('x'))",
    "SELECT * FROM datasets WHERE id = '' OR SLEEP(5)",
    "SELECT IF(1, SLEEP(5), 0)",
    "SELECT GET_LOCK('petrosa', 10)",
    "SELECT * FROM datasets FOR UPDATE",
    "SELECT * FROM datasets LOCK IN SHARE MODE",
    "SELECT 1 INTO @x",
    "SELECT @x := 1",
    # the servers' own schemas and state
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM `information_schema`.`TABLES`",
    "SELECT user, password FROM mysql.user",
    "SELECT * FROM performance_schema.threads",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM sqlite_schema",
    "SELECT * FROM pragma_table_info('datasets')",
    "SELECT id FROM datasets UNION SELECT table_name FROM information_schema.tables",
    "SELECT @@datadir",
    "SELECT USER()",
    "SELECT VERSION()",
    "SELECT sqlite_version()",
    # memory bombs and runaways: refused, or stopped at the time limit
    "SELECT RANDOMBLOB(1000000000)",
    "SELECT zeroblob(1000000000)",
    "SELECT REPEAT('a', 1000000000)",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r",
    "with recursive r AS (SELECT 1 AS n UNION ALL SELECT n FROM r, candles) SELECT 1 FROM r",
    "SELECT COUNT(*) FROM candles a, candles b, candles c, candles d",
    "SELECT COUNT(*) FROM candles a CROSS JOIN candles b CROSS JOIN candles c CROSS JOIN trades d",
    # case and whitespace variants
    "dElEtE fRoM datasets",
    "\tDELETE\nFROM\tdatasets",
    "select/**/sleep(5)",
    "SELECT 1 " + "+ 1 " * 6000,
    "SELECT " + "(" * 3000 + "1" + ")" * 3000,
]
LEGITIMATE: list[tuple[str, dict[str, Any], int]] = [
    (
        "SELECT COUNT(*) AS n, MIN(open_time) AS first FROM candles WHERE symbol = :s",
        {"s": "XRPUSDT"}, 1,
    ),
    (
        "SELECT symbol, interval, COUNT(*) AS n, AVG(close) AS mean, MAX(high) - MIN(low) AS span "
        "FROM candles GROUP BY symbol, interval HAVING COUNT(*) > 1 ORDER BY n DESC",
        {}, 1,
    ),
    (
        "SELECT open_time, close, AVG(close) OVER (ORDER BY open_time ROWS BETWEEN 11 PRECEDING "
        "AND CURRENT ROW) AS sma, LAG(close) OVER (ORDER BY open_time) AS prev, "
        "ROW_NUMBER() OVER (ORDER BY open_time) AS n FROM candles WHERE symbol = 'XRPUSDT' "
        "ORDER BY open_time LIMIT 50",
        {}, 50,
    ),
    (
        "WITH latest AS (SELECT dataset_id, MAX(measured_at) AS at FROM health_metrics "
        "GROUP BY dataset_id) SELECT d.id, h.score FROM datasets d JOIN latest l "
        "ON l.dataset_id = d.id JOIN health_metrics h ON h.dataset_id = l.dataset_id "
        "AND h.measured_at = l.at ORDER BY d.id",
        {}, 1,
    ),
    ("SELECT id FROM datasets UNION ALL SELECT dataset_id FROM audit_logs", {}, 2),
    ("SELECT * FROM datasets WHERE symbol = :s", {"s": "XRPUSDT'; DROP TABLE datasets; --"}, 0),
]  # fmt: skip


async def _raw(backend: Backend, body: dict[str, Any], key: str = ADMIN) -> Any:
    async with backend.client(key) as client:
        return await client.post("/api/v1/raw/mysql", json=body, timeout=30)


@pytest.mark.parametrize("query", ATTACKS)
async def test_an_attack_is_refused_and_changes_nothing(backend: Backend, query: str) -> None:
    before = await row_counts(backend)
    response = await _raw(backend, {"query": query, "timeout": 1})
    after = await row_counts(backend)

    assert response.status_code == 400, (query, response.text)
    error = response.json()["error"]
    assert error["code"] in ("query_refused", "query_timeout"), error
    assert error["message"]
    assert after == before


def test_the_attack_table_is_as_large_as_promised() -> None:
    assert len(ATTACKS) >= 60
    assert len(set(ATTACKS)) == len(ATTACKS)


@pytest.mark.parametrize(("query", "params", "at_least"), LEGITIMATE)
async def test_analytical_reads_answer_their_rows(
    backend: Backend, query: str, params: dict[str, Any], at_least: int
) -> None:
    response = await _raw(backend, {"query": query, "params": params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["data"]) >= at_least
    assert body["meta"]["records_returned"] == len(body["data"])


async def test_a_refusal_says_what_and_why(backend: Backend) -> None:
    response = await _raw(backend, {"query": "SELECT SLEEP(5)"})
    assert response.json()["error"]["message"] == "function SLEEP is not on the allow-list"


async def test_the_row_cap_cuts_and_says_so(backend: Backend) -> None:
    response = await _raw(backend, {"query": "SELECT open_time FROM candles", "limit": 7})
    body = response.json()
    assert len(body["data"]) == 7
    assert body["meta"]["truncated"] is True


async def test_the_original_body_format_and_the_sql_alias_are_accepted(backend: Backend) -> None:
    async with backend.client(ADMIN) as client:
        response = await client.post(
            "/api/v1/raw/sql",
            json={"query": "SELECT COUNT(*) AS n FROM datasets WHERE symbol = :s",
                  "parameters": {"s": "XRPUSDT"}, "timeout": 5},
        )  # fmt: skip
    assert response.json()["data"] == [{"n": 1}]


async def test_raw_queries_need_an_admin_key(backend: Backend) -> None:
    response = await _raw(backend, {"query": "SELECT 1"}, key=WRITER)
    assert response.status_code == 403


async def test_raw_mongodb_says_which_backend_runs_instead(backend: Backend) -> None:
    async with backend.client(ADMIN) as client:
        response = await client.post(
            "/api/v1/raw/mongodb", json={"collection": "datasets", "find": {}}
        )
    assert response.status_code == 409
    assert "not MongoDB" in response.json()["error"]["message"]
