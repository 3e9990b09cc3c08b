-- Fixture for the differential passthrough corpus (cases.jsonl). Run once, as superuser, in a
-- fresh UTF-8 database. Also works sent as one simple Query: no psql meta-commands, no COPY FROM
-- STDIN. Rows are deterministic: no random()/now(), no serial/identity (sequences advance even on
-- rollback). timestamptz literals carry explicit offsets, independent of the loading TimeZone.

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'überglücklich 😀');
CREATE TYPE address AS (street text, zip char(5), lat float8, tags text[]);
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);

-- Numbers and booleans.
CREATE TABLE nums (
    id     int4 PRIMARY KEY,
    i2     int2,
    i4     int4,
    i8     int8,
    n      numeric,
    n_big  numeric(40, 20),
    f4     float4,
    f8     float8,
    b      bool,
    m      money
);
INSERT INTO nums VALUES
    (1, 0, 0, 0, 0, 0, 0, 0, false, 0), (2, 32767, 2147483647, 9223372036854775807,
        123456789012345678901234567890.123456789012345678901234567890,
        12345678901234567890.12345678901234567890,
        3.4028235e38, 1.7976931348623157e308, true, 92233720368547758.07),
    (3, -32768, -2147483648, -9223372036854775808, -0.000000000000000000000000000001,
        -1.5, '-Infinity', '-0', false, -1234.56),
    (4, 1, -1, 42, 'NaN', 0.00000000000000000001, 'NaN', 'Infinity', true, 0.01),
    (5, -7, 123456, -1234567890123, 1e-100, -99999999999999999999.99999999999999999999,
        1.17549435e-38, 2.2250738585072014e-308, NULL, 1),
    (6, 12, 34, 56, 3.14159265358979323846264338327950288419716939937510, 2.5,
        0.1, 0.1, true, 12.34),
    (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- Character data (non-ASCII, quoting and COPY-escaping edge cases) and bytea.
CREATE TABLE texts (
    id    int4 PRIMARY KEY,
    lang  varchar(16) NOT NULL,
    t     text,
    v     varchar(40),
    c     char(10),
    bin   bytea
);
INSERT INTO texts VALUES
    (1, 'en', 'Hello, world', 'plain ascii', 'abc', '\x48656c6c6f'),
    (2, 'de', 'Grüße aus der Straße, Äpfel und Öl', 'Müller', 'Größe', '\xc3bc'),
    (3, 'ja', '日本語のテキストです。東京', 'こんにちは', '漢字', '\xe697a5e69cac'),
    (4, 'emoji', '😀🎉👍 party 🇩🇪', '🙂', '🚀x', '\xf09f9880'),
    (5, 'ru', 'Привет, мир! Ёжик', 'Кириллица', 'Щука', '\xd09f'),
    (6, 'special', E'tab\there\nnewline "double" ''single'' back\\slash', E'comma,semi;', 'a b', '\x00ff00ff'),
    (7, 'empty', '', '', '', '\x'),
    (8, 'null', NULL, NULL, NULL, NULL),
    (9, 'latin1', 'Grüße, café, naïve, ½ ©', 'Ça va', 'àéîõü', '\x00');

-- Dates and times, including infinities, BC dates and microseconds.
CREATE TABLE times (
    id    int4 PRIMARY KEY,
    d     date,
    t     time,
    tz    timetz,
    ts    timestamp,
    tstz  timestamptz,
    iv    interval
);
INSERT INTO times VALUES
    (1, '2024-02-29', '12:34:56.789012', '12:34:56+02', '2024-02-29 12:34:56.789012',
        '2024-02-29 12:34:56.789012+00', '1 year 2 months 3 days 04:05:06.789'),
    (2, '1970-01-01', '00:00:00', '00:00:00+00', '1970-01-01 00:00:00',
        '1970-01-01 00:00:00+00', '0'),
    (3, 'infinity', '23:59:59.999999', '23:59:59-11:30', 'infinity', 'infinity', '-1 days -02:03:04'),
    (4, '-infinity', '24:00:00', '01:02:03+14', '-infinity', '-infinity', '178000000 years'),
    (5, '0044-03-15 BC', '06:30', '06:30:00-05', '0044-03-15 12:00:00 BC',
        '0044-03-15 12:00:00+00 BC', '-1.5 seconds'),
    (6, '2038-01-19', '03:14:07', '03:14:07+05:30', '2038-01-19 03:14:07',
        '2038-01-19 03:14:07.5+05:30', '1 mon -1 days'),
    (7, NULL, NULL, NULL, NULL, NULL, NULL);

-- Everything else: uuid, json/jsonb, arrays, network types, enum, composite, domain, range.
CREATE TABLE misc (
    id    int4 PRIMARY KEY,
    u     uuid,
    j     json,
    jb    jsonb,
    ia    int4[],
    ta    text[],
    m2    int4[][],
    ip    inet,
    net   cidr,
    mo    mood,
    addr  address,
    pi    posint,
    r     int4range
);
INSERT INTO misc VALUES
    (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1, "a": [1, 2.50, null]}',
        '{"b": 1, "a": [1, 2.50, null], "ü": "日本"}', '{1,2,3}', '{"a","b c","Grüße"}',
        '{{1,2},{3,4}}', '192.168.0.1/24', '10.0.0.0/8', 'happy',
        ROW('Hauptstraße 1', '10115', 52.52, '{"berlin","de"}'), 7, '[1,10)'),
    (2, '00000000-0000-0000-0000-000000000000', '[]', '[]', '{}', '{}', '{}',
        '::1', '2001:db8::/32', 'sad', ROW(NULL, NULL, NULL, NULL), 1, 'empty'),
    (3, 'ffffffff-ffff-ffff-ffff-ffffffffffff', '"just a string \u00e9"', '"日本語"',
        '{NULL,-1,2147483647}', '{NULL,"NULL","","quote\"d","back\\slash"}',
        '{{NULL,1},{2,NULL}}', '2001:db8::ff00:42:8329', '192.168.100.128/25',
        'überglücklich 😀', ROW('日本橋 2-1', '1000', '-0', '{}'), 2147483647, '(,5]'),
    (4, '12345678-1234-5678-1234-567812345678', 'null', 'null', '{-5}', '{"Привет"}',
        '{{1,2,3},{4,5,6},{7,8,9}}', '0.0.0.0', '0.0.0.0/0', 'ok',
        ROW('x,y "z"', '00000', 'NaN', NULL), 42, '[-3,3]'),
    (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- A small relational pair for writes inside rolled-back transactions and constraint errors.
CREATE TABLE items (
    id        int4 PRIMARY KEY,
    name      text NOT NULL UNIQUE,
    category  text NOT NULL,
    price     numeric(10, 2) CHECK (price >= 0),
    qty       int4 NOT NULL DEFAULT 0,
    mo        mood
);
INSERT INTO items VALUES
    (1, 'apple', 'fruit', 0.50, 100, 'happy'),
    (2, 'banana', 'fruit', 0.25, 150, 'ok'),
    (3, 'cherry', 'fruit', 4.99, 0, NULL),
    (4, 'carrot', 'vegetable', 0.10, 500, 'sad'),
    (5, 'Käse', 'dairy', 7.95, 20, 'überglücklich 😀'),
    (6, '牛乳', 'dairy', 1.20, 35, 'ok'),
    (7, 'bread', 'bakery', NULL, 12, NULL),
    (8, 'croissant', 'bakery', 1.75, 40, 'happy');

CREATE TABLE orders (
    id       int4 PRIMARY KEY,
    item_id  int4 NOT NULL REFERENCES items (id),
    qty      int4 NOT NULL CHECK (qty > 0),
    note     text
);
INSERT INTO orders VALUES
    (1, 1, 3, NULL), (2, 1, 1, 'gift'), (3, 4, 10, 'für Oma'), (4, 5, 2, '🎁'),
    (5, 8, 6, NULL), (6, 2, 12, 'bulk');

-- 5000 deterministic rows for cursors, row-limited portals and bigger result sets.
CREATE TABLE big (
    id     int4 PRIMARY KEY,
    label  text NOT NULL,
    val    float8
);
INSERT INTO big
SELECT i, 'row ' || i || ' ' || md5(i::text), CASE WHEN i % 7 = 0 THEN NULL ELSE i / 8.0 END
FROM generate_series(1, 5000) AS i;

CREATE VIEW item_summary AS
SELECT i.category, count(*) AS n_items, sum(i.qty) AS total_qty,
       coalesce(sum(o.qty), 0) AS ordered, max(i.price) AS max_price
FROM items i
LEFT JOIN (SELECT item_id, sum(qty) AS qty FROM orders GROUP BY item_id) o ON o.item_id = i.id
GROUP BY i.category;

-- Emits INFO, NOTICE and WARNING messages (DEBUG is below the default client_min_messages).
CREATE FUNCTION noisy(n int4 DEFAULT 1) RETURNS int4 LANGUAGE plpgsql AS $$
BEGIN
    RAISE DEBUG 'noisy debug %', n;
    RAISE INFO 'noisy info %', n;
    RAISE NOTICE 'noisy notice % — Grüße, 日本', n;
    RAISE WARNING 'noisy warning %', n
        USING DETAIL = 'warning detail', HINT = 'warning hint';
    RETURN n * 2;
END
$$;

-- Fails with a custom SQLSTATE and every optional error field plpgsql can set.
CREATE FUNCTION fail_custom(msg text DEFAULT 'custom failure') RETURNS int4 LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fail_custom: %', msg USING
        ERRCODE = 'PA001', DETAIL = 'detail: Grüße 😀', HINT = 'hint: call it differently',
        SCHEMA = 'public', TABLE = 'items', COLUMN = 'name', CONSTRAINT = 'items_name_key',
        DATATYPE = 'text';
END
$$;

-- Fails only for some rows, so an error can arrive after DataRows.
CREATE FUNCTION check_positive(x int4) RETURNS int4 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF x IS NULL OR x <= 0 THEN
        RAISE EXCEPTION 'value % is not positive', x USING ERRCODE = 'data_exception';
    END IF;
    RETURN x;
END
$$;

CREATE FUNCTION squares(n int4) RETURNS TABLE (i int4, sq int8) LANGUAGE sql IMMUTABLE AS $$
    SELECT g, g::int8 * g FROM generate_series(1, n) AS g
$$;

GRANT USAGE ON SCHEMA public TO PUBLIC;
GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC;
GRANT USAGE ON TYPE mood, address, posint TO PUBLIC;

ANALYZE;
