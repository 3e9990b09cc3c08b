//! Spider's schemas as PostgreSQL DDL, shared by the benchmarks that create them.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::Value;

fn pg_type(spider: &str) -> &'static str {
    match spider {
        "number" => "numeric",
        "time" => "timestamp",
        "boolean" => "boolean",
        _ => "text",
    }
}

/// DDL for one Spider schema; foreign keys come separately (some cannot be created).
pub fn schema_ddl(db: &Value) -> (String, Vec<String>) {
    let schema = db["db_id"].as_str().unwrap();
    let tables: Vec<&str> = db["table_names_original"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let cols: Vec<(i64, &str)> = db["column_names_original"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_i64().unwrap(), c[1].as_str().unwrap()))
        .collect();
    let types: Vec<&str> = db["column_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let pks: HashSet<usize> = db["primary_keys"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| match p {
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_u64)
                .map(|x| x as usize)
                .collect::<Vec<_>>(),
            v => v.as_u64().map(|x| x as usize).into_iter().collect(),
        })
        .collect();
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut ddl = format!("CREATE SCHEMA {};\n", q(schema));
    for (t, name) in tables.iter().enumerate() {
        let mut seen = HashSet::new();
        let mut defs = Vec::new();
        let mut pk = Vec::new();
        for (i, (owner, col)) in cols.iter().enumerate() {
            if *owner == t as i64 && seen.insert(col.to_lowercase()) {
                defs.push(format!("{} {}", q(col), pg_type(types[i])));
                if pks.contains(&i) {
                    pk.push(q(col));
                }
            }
        }
        if !pk.is_empty() {
            defs.push(format!("PRIMARY KEY ({})", pk.join(", ")));
        }
        let _ = writeln!(
            ddl,
            "CREATE TABLE {}.{} ({});",
            q(schema),
            q(name),
            defs.join(", ")
        );
    }
    let fks = db["foreign_keys"].as_array().unwrap().iter().map(|fk| {
        let (a, b) = (fk[0].as_u64().unwrap() as usize, fk[1].as_u64().unwrap() as usize);
        let (ta, ca) = (tables[cols[a].0 as usize], cols[a].1);
        let (tb, cb) = (tables[cols[b].0 as usize], cols[b].1);
        format!(
            "DO $$ BEGIN BEGIN ALTER TABLE {s}.{tb} ADD UNIQUE ({cb}); EXCEPTION WHEN others THEN NULL; END;
             ALTER TABLE {s}.{ta} ADD FOREIGN KEY ({ca}) REFERENCES {s}.{tb} ({cb}); EXCEPTION WHEN others THEN NULL; END $$;",
            s = q(schema), ta = q(ta), ca = q(ca), tb = q(tb), cb = q(cb)
        )
    }).collect();
    (ddl, fks)
}
