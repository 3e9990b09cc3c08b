//! Test-suite variant databases (`pgask::eval::variants`): copies with the same schema and keys,
//! fewer rows and perturbed values, made deterministically from a seed; on a small hand-made
//! schema for exact properties, and on chinook as a realism check.

use crate::common;

use std::collections::{BTreeMap, HashMap};

use common::{data, Cluster};
use pgask::eval::variants::{
    drop_variants, make_variants, perturb, variant_name, VariantSpec, VariantsError,
};
use tokio_postgres::Client;

/// Parents, children, a grandchild, a table without a primary key whose check constraint any
/// scaling breaks, and quoted names.
const SHOP: &str = r#"
CREATE TABLE category (id int PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO category SELECT i, 'cat ' || i FROM generate_series(1, 5) i;
CREATE TABLE product (
    id int PRIMARY KEY,
    category_id int NOT NULL REFERENCES category,
    name varchar(40) NOT NULL,
    code text UNIQUE,
    price numeric(10,2) NOT NULL CHECK (price > 0),
    stock int,
    weight float8,
    added date,
    active bool NOT NULL
);
INSERT INTO product
SELECT i, i % 5 + 1, 'product ' || i, 'P' || i,
       CASE WHEN i % 2 = 0 THEN 1.99 ELSE 0.99 END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE i * 3 END,
       i * 0.25, date '2020-01-01' + i, i % 3 = 0
  FROM generate_series(1, 200) i;
CREATE TABLE sale (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id int NOT NULL REFERENCES product,
    qty int NOT NULL,
    sold_at timestamptz NOT NULL,
    note text
);
INSERT INTO sale (product_id, qty, sold_at, note)
SELECT i % 150 + 1, i % 7 + 1, timestamptz '2021-01-01 00:00+00' + i * interval '1 hour',
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'note ' || (i % 13) END
  FROM generate_series(1, 1000) i;
CREATE TABLE flag (level smallint CHECK (level IN (0, 100)));
INSERT INTO flag SELECT CASE WHEN i % 2 = 0 THEN 0 ELSE 100 END FROM generate_series(1, 20) i;
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed Case" ("Id" int PRIMARY KEY, "Va""l" int NOT NULL);
INSERT INTO "Odd Schema"."Mixed Case" SELECT i, i * 10 FROM generate_series(1, 50) i;
"#;

const SHOP_TABLES: [&str; 5] = [
    "category",
    "product",
    "sale",
    "flag",
    r#""Odd Schema"."Mixed Case""#,
];

fn shop(cluster: &Cluster) -> String {
    let db = cluster.create_db("variants_shop");
    cluster.psql_as("postgres", &db, SHOP);
    db
}

async fn admin(cluster: &Cluster) -> Client {
    cluster.client("postgres", "postgres").await
}

fn spec(count: usize, seed: u64) -> VariantSpec {
    VariantSpec {
        count,
        seed,
        keep_fraction: 0.7,
    }
}

/// Makes variants of `source`, connecting to them as postgres.
async fn variants(
    cluster: &Cluster,
    admin: &Client,
    source: &str,
    spec: &VariantSpec,
) -> Result<Vec<String>, VariantsError> {
    let port = cluster.port;
    make_variants(admin, source, spec, move |name| async move {
        let url = format!("host=127.0.0.1 port={port} user=postgres dbname={name}");
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    })
    .await
}

async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

/// `(id, value as text)` of every row, by id.
async fn by_id(c: &Client, sql: &str) -> HashMap<i64, Option<String>> {
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn columns(c: &Client) -> Vec<String> {
    c.query(
        "SELECT table_schema || '.' || table_name || '.' || column_name || ' ' || data_type
                || ' ' || is_nullable
           FROM information_schema.columns
          WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
          ORDER BY table_schema, table_name, ordinal_position",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

async fn checksum(c: &Client, table: &str) -> String {
    c.query_one(
        &format!("SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t"),
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

async fn checksums(c: &Client, tables: &[&str]) -> BTreeMap<String, String> {
    let mut sums = BTreeMap::new();
    for t in tables {
        sums.insert(t.to_string(), checksum(c, t).await);
    }
    sums
}

async fn database_exists(admin: &Client, name: &str) -> bool {
    count(
        admin,
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    )
    .await
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_keep_schema_and_keys_but_change_rows_and_values() {
    let cluster = Cluster::shared();
    let source = shop(cluster);
    let admin = admin(cluster).await;
    let names = variants(cluster, &admin, &source, &spec(3, 7))
        .await
        .unwrap();
    assert_eq!(
        names,
        (1..=3)
            .map(|i| variant_name(&source, i))
            .collect::<Vec<_>>()
    );
    assert_eq!(names[0], format!("{source}_ts1"));
    for name in &names {
        assert!(database_exists(&admin, name).await, "{name}");
    }

    let src = cluster.client("postgres", &source).await;
    let src_columns = columns(&src).await;
    let mut accidental_query_caught = false;
    for name in &names {
        let var = cluster.client("postgres", name).await;
        assert_eq!(columns(&var).await, src_columns, "{name}: schema changed");

        // Fewer rows where some are unreferenced, none where all are referenced.
        for table in SHOP_TABLES {
            let sql = format!("SELECT count(*) FROM {table}");
            let (before, after) = (count(&src, &sql).await, count(&var, &sql).await);
            assert!(
                after > 0 && after <= before,
                "{name} {table}: {after}/{before}"
            );
            if table != "category" {
                assert!(after < before, "{name} {table} was not sampled");
            }
        }
        assert_eq!(count(&var, "SELECT count(*) FROM category").await, 5);
        // No orphans.
        for orphans in [
            "SELECT count(*) FROM sale s WHERE NOT EXISTS \
             (SELECT 1 FROM product p WHERE p.id = s.product_id)",
            "SELECT count(*) FROM product p WHERE NOT EXISTS \
             (SELECT 1 FROM category c WHERE c.id = p.category_id)",
        ] {
            assert_eq!(count(&var, orphans).await, 0, "{name}: {orphans}");
        }

        // Keys, unique and foreign-key columns unchanged, on a subset of the original rows.
        for sql in [
            "SELECT id::int8, name FROM category",
            "SELECT id::int8, code || '/' || category_id FROM product",
            "SELECT id, product_id::text FROM sale",
        ] {
            let (before, after) = (by_id(&src, sql).await, by_id(&var, sql).await);
            for (id, v) in &after {
                assert_eq!(before.get(id), Some(v), "{name}: {sql} row {id}");
            }
        }

        // Perturbed columns differ on some rows, within bounds.
        let prices_before = by_id(&src, "SELECT id::int8, price::text FROM product").await;
        let prices_after = by_id(&var, "SELECT id::int8, price::text FROM product").await;
        let changed = prices_after
            .iter()
            .filter(|(id, p)| prices_before[*id] != **p)
            .count();
        assert!(
            changed > prices_after.len() / 2,
            "{name}: {changed} prices changed"
        );
        assert_eq!(
            count(
                &var,
                "SELECT count(*) FROM product WHERE price < 0.49 OR price > 2.99"
            )
            .await,
            0
        );
        assert_eq!(
            count(&var, "SELECT count(*) FROM product WHERE stock IS NULL").await,
            count(&var, "SELECT count(*) FROM product WHERE id % 10 = 0").await,
            "{name}: NULLs must stay NULL and values must stay values"
        );
        let dates = "SELECT id::int8, (added - (date '2020-01-01' + id))::text FROM product";
        let shifts: Vec<i64> = by_id(&var, dates)
            .await
            .values()
            .map(|d| d.as_deref().unwrap().parse().unwrap())
            .collect();
        assert!(shifts.iter().all(|d| d.abs() <= 200), "{name}: {shifts:?}");
        assert!(shifts.iter().filter(|d| **d != 0).count() > shifts.len() / 2);
        let flipped = count(
            &var,
            "SELECT count(*) FROM product WHERE active <> (id % 3 = 0)",
        )
        .await;
        let products = count(&var, "SELECT count(*) FROM product").await;
        assert!(
            flipped > 0 && flipped < products / 2,
            "{name}: {flipped} flipped"
        );
        assert!(
            count(
                &var,
                r#"SELECT count(*) FROM "Odd Schema"."Mixed Case" WHERE "Va""l" <> "Id" * 10"#
            )
            .await
                > 0
        );

        // Text is shuffled: the same values on the kept rows, but on other rows.
        let names_before = by_id(&src, "SELECT id::int8, name FROM product").await;
        let names_after = by_id(&var, "SELECT id::int8, name FROM product").await;
        let mut kept: Vec<_> = names_after.keys().map(|id| &names_before[id]).collect();
        let mut shuffled: Vec<_> = names_after.values().collect();
        kept.sort();
        shuffled.sort();
        assert_eq!(kept, shuffled, "{name}: not a permutation");
        let moved = names_after
            .iter()
            .filter(|(id, n)| names_before[*id] != **n)
            .count();
        assert!(moved > names_after.len() / 2, "{name}: {moved} names moved");

        // The check constraint refused every scaling of the flags: they are left alone.
        assert_eq!(
            count(
                &var,
                "SELECT count(*) FROM flag WHERE level NOT IN (0, 100)"
            )
            .await,
            0
        );

        // A condition right only by accident of the original prices (0.99 and 1.99).
        let gt1 = count(&var, "SELECT count(*) FROM product WHERE price > 1").await;
        let gt15 = count(&var, "SELECT count(*) FROM product WHERE price > 1.5").await;
        accidental_query_caught |= gt1 != gt15;
    }
    assert_eq!(
        count(&src, "SELECT count(*) FROM product WHERE price > 1").await,
        count(&src, "SELECT count(*) FROM product WHERE price > 1.5").await
    );
    assert!(accidental_query_caught);
    assert_eq!(
        count(&src, "SELECT count(*) FROM sale").await,
        1000,
        "source changed"
    );
    drop(src);

    // The same seed gives the same variants (made again over the stale ones); another does not.
    let mut first = Vec::new();
    for name in &names {
        first.push(checksums(&cluster.client("postgres", name).await, &SHOP_TABLES).await);
    }
    assert_ne!(first[0], first[1], "variants 1 and 2 are alike");
    let again = variants(cluster, &admin, &source, &spec(3, 7))
        .await
        .unwrap();
    assert_eq!(again, names);
    for (name, sums) in names.iter().zip(&first) {
        let var = cluster.client("postgres", name).await;
        assert_eq!(&checksums(&var, &SHOP_TABLES).await, sums, "{name} differs");
    }
    let other = variants(cluster, &admin, &source, &spec(1, 8))
        .await
        .unwrap();
    let var = cluster.client("postgres", &other[0]).await;
    assert_ne!(checksums(&var, &SHOP_TABLES).await, first[0]);
    drop(var);

    // Dropping them works even while clients are still connected.
    let _still_connected = cluster.client("postgres", &names[1]).await;
    drop_variants(&admin, &names).await.unwrap();
    for name in &names {
        assert!(!database_exists(&admin, name).await, "{name} still exists");
    }
    drop_variants(&admin, &names).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perturb_reports_what_it_changed_and_what_the_server_refused() {
    let cluster = Cluster::shared();
    let db = shop(cluster);
    let mut client = cluster.client("postgres", &db).await;
    let report = perturb(&mut client, 42, 0.7).await.unwrap();
    assert_eq!(report.tables, 5);
    assert!(report.deleted_rows > 200, "{report:?}");
    for column in [
        "public.product.name",
        "public.product.price",
        "public.product.stock",
        "public.product.weight",
        "public.product.added",
        "public.product.active",
        "public.sale.qty",
        "public.sale.sold_at",
        "public.sale.note",
        "Odd Schema.Mixed Case.Va\"l",
    ] {
        assert!(
            report.perturbed.iter().any(|c| c == column),
            "{column} not in {:?}",
            report.perturbed
        );
    }
    for key in [
        "public.category.id",
        "public.category.name",
        "public.product.id",
        "public.product.category_id",
        "public.product.code",
        "public.sale.id",
        "public.sale.product_id",
        "public.flag.level",
        "Odd Schema.Mixed Case.Id",
    ] {
        assert!(
            !report.perturbed.iter().any(|c| c == key),
            "{key} perturbed"
        );
    }
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    let skipped = &report.skipped[0];
    assert_eq!(skipped.table, "public.flag");
    assert_eq!(skipped.column.as_deref(), Some("level"));
    assert!(skipped.reason.contains("check constraint"), "{skipped:?}");
    // Vacuumed and analyzed after sampling: the planner's row count is the real one.
    assert_eq!(
        count(
            &client,
            "SELECT reltuples::int8 FROM pg_class WHERE oid = 'sale'::regclass"
        )
        .await,
        count(&client, "SELECT count(*) FROM sale").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_with_sessions_is_refused_with_a_clear_error() {
    let cluster = Cluster::shared();
    let source = cluster.create_db("variants_busy");
    cluster.psql_as("postgres", &source, "CREATE TABLE t (id int PRIMARY KEY)");
    let admin = admin(cluster).await;
    let busy = cluster.client("postgres", &source).await;
    let err = variants(cluster, &admin, &source, &spec(1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VariantsError::SourceInUse { source_db } if *source_db == source),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("other sessions are connected"),
        "{message}"
    );
    drop(busy);

    let bad = VariantSpec {
        keep_fraction: 1.5,
        ..VariantSpec::default()
    };
    assert!(matches!(
        variants(cluster, &admin, &source, &bad).await,
        Err(VariantsError::KeepFraction(_))
    ));
    let long = "x".repeat(60);
    assert!(matches!(
        variants(cluster, &admin, &long, &spec(1, 1)).await,
        Err(VariantsError::NameTooLong(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinook_variants_catch_a_query_right_by_accident() {
    let cluster = Cluster::shared();
    let Some(chinook) = data::pristine(cluster, "chinook") else {
        return;
    };
    let admin = admin(cluster).await;
    // Our own copy, so nothing else is connected to the source.
    let source = format!("chinook_variants_{}", std::process::id());
    admin
        .batch_execute(&format!("CREATE DATABASE {source} TEMPLATE {chinook}"))
        .await
        .unwrap();
    let names = variants(cluster, &admin, &source, &spec(3, 1))
        .await
        .unwrap();

    let src = cluster.client("postgres", &source).await;
    let tables: Vec<String> = src
        .query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables.len(), 11, "{tables:?}");
    let accident = [
        "SELECT count(*) FROM track WHERE unit_price > 1",
        "SELECT count(*) FROM track WHERE unit_price > 1.5",
    ];
    assert_eq!(
        count(&src, accident[0]).await,
        count(&src, accident[1]).await
    );
    let mut caught = 0;
    for name in &names {
        let var = cluster.client("postgres", name).await;
        assert_eq!(columns(&var).await, columns(&src).await);
        for table in &tables {
            let sql = format!("SELECT count(*) FROM {table}");
            let (before, after) = (count(&src, &sql).await, count(&var, &sql).await);
            eprintln!("{name} {table}: {after}/{before} rows");
            assert!(
                after > 0 && after <= before,
                "{name} {table}: {after}/{before}"
            );
            if ["track", "invoice_line", "playlist_track", "invoice"].contains(&table.as_str()) {
                assert!(after < before, "{name} {table}: {after}/{before}");
            }
        }
        for orphans in [
            "SELECT count(*) FROM invoice_line l WHERE NOT EXISTS \
             (SELECT 1 FROM track t WHERE t.track_id = l.track_id)",
            "SELECT count(*) FROM track t WHERE t.album_id IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM album a WHERE a.album_id = t.album_id)",
            "SELECT count(*) FROM employee e WHERE e.reports_to IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM employee b WHERE b.employee_id = e.reports_to)",
        ] {
            assert_eq!(count(&var, orphans).await, 0, "{name}: {orphans}");
        }
        let (gt1, gt15) = (
            count(&var, accident[0]).await,
            count(&var, accident[1]).await,
        );
        eprintln!("{name}: {gt1} tracks over 1, {gt15} over 1.5");
        if gt1 != gt15 {
            caught += 1;
        }
    }
    assert!(caught >= 1, "no variant tells `> 1` from `> 1.5`");
    drop(src);
    drop_variants(&admin, &names).await.unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {source} WITH (FORCE)"))
        .await
        .unwrap();
}
