#!/usr/bin/env node
// node-postgres (pg@8) + pg-copy-streams driver check for pgask.
//
// Connection settings come from PGHOST, PGPORT, PGUSER, PGPASSWORD,
// PGDATABASE and optionally PGSSLMODE / PGSSLROOTCERT / PGCHANNELBINDING.
// Exercises simple queries, named prepared statements, transactions, COPY
// in/out, LISTEN/NOTIFY and a handful of data types. Prints one line per step
// and "OK node-pg" at the end; exits non-zero on the first failure.
'use strict'

const fs = require('fs')
const { pipeline } = require('stream/promises')
const { Readable, Writable } = require('stream')
const { Client } = require('pg')
const copyStreams = require('pg-copy-streams')

const DRIVER = 'node-pg'
const TIMEOUT_MS = 10000

function step(msg) {
  console.log(`[${DRIVER}] ${msg}`)
}

function check(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`)
}

function withTimeout(promise, ms, what) {
  let timer
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms}ms: ${what}`)), ms)
  })
  return Promise.race([promise, t]).finally(() => clearTimeout(timer))
}

// Map libpq-style PGSSLMODE onto node's TLS options (pg's own env handling
// would verify certificates for sslmode=require, unlike libpq).
function sslFromEnv() {
  const mode = process.env.PGSSLMODE || 'disable'
  switch (mode) {
    case 'disable':
    case 'allow':
      return false
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false }
    case 'verify-ca':
    case 'verify-full': {
      const ssl = { rejectUnauthorized: true }
      if (process.env.PGSSLROOTCERT) ssl.ca = fs.readFileSync(process.env.PGSSLROOTCERT)
      if (mode === 'verify-ca') ssl.checkServerIdentity = () => undefined
      return ssl
    }
    default:
      throw new Error(`unsupported PGSSLMODE=${mode}`)
  }
}

async function main() {
  for (const v of ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE']) {
    if (!process.env[v]) throw new Error(`environment variable ${v} is not set`)
  }
  const cb = process.env.PGCHANNELBINDING || 'prefer'
  const client = new Client({
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT),
    user: process.env.PGUSER,
    password: process.env.PGPASSWORD,
    database: process.env.PGDATABASE,
    ssl: sslFromEnv(),
    // pg only offers SCRAM-SHA-256-PLUS when this is set (default false).
    enableChannelBinding: cb !== 'disable',
    connectionTimeoutMillis: TIMEOUT_MS,
    query_timeout: TIMEOUT_MS,
    statement_timeout: TIMEOUT_MS,
    application_name: 'pgask-node-pg',
  })
  // Record which SASL mechanism / gs2 header the driver picked (auth itself is untouched).
  let sasl = null
  const origInitial = client.connection.sendSASLInitialResponseMessage.bind(client.connection)
  client.connection.sendSASLInitialResponseMessage = (mechanism, initialResponse) => {
    sasl = { mechanism, gs2: initialResponse.split(',')[0] }
    return origInitial(mechanism, initialResponse)
  }
  client.on('error', (err) => {
    console.error(`[${DRIVER}] FAIL: client error: ${err.stack || err}`)
    process.exit(1)
  })

  await withTimeout(client.connect(), TIMEOUT_MS + 1000, 'connect')
  try {
    const mech = sasl ? sasl.mechanism : 'none'
    step(`connected (ssl=${Boolean(client.connection.stream.encrypted)}, sasl=${mech}, gs2=${sasl ? sasl.gs2 : '-'})`)
    check(mech === 'SCRAM-SHA-256' || mech === 'SCRAM-SHA-256-PLUS', `expected SCRAM auth, got ${mech}`)
    if (cb === 'require') check(mech === 'SCRAM-SHA-256-PLUS', 'PGCHANNELBINDING=require but no channel binding')

    let r = await client.query('SELECT current_user AS u, current_database() AS d')
    check(r.rows[0].u === process.env.PGUSER && r.rows[0].d === process.env.PGDATABASE,
      `unexpected session identity ${JSON.stringify(r.rows[0])}`)
    step(`session identity ok: ${r.rows[0].u}/${r.rows[0].d}`)

    // --- simple query (no params => simple Query protocol) ------------------
    r = await client.query("SELECT 1 + 1 AS two, 'hello'::text AS greeting")
    check(r.rows.length === 1 && r.rows[0].two === 2 && r.rows[0].greeting === 'hello',
      `simple query returned ${JSON.stringify(r.rows)}`)
    const multi = await client.query('SELECT 1 AS a; SELECT 2 AS b')
    check(Array.isArray(multi) && multi.length === 2 && multi[1].rows[0].b === 2, 'multi-statement query')
    step('simple query ok')

    // --- named prepared statement reused with different params --------------
    for (const i of [1, 2, 3, 4]) {
      r = await client.query({
        name: 'pgask_mul',
        text: 'SELECT $1::int * 10 AS v, $2::text AS s',
        values: [i, `p${i}`],
      })
      check(r.rows[0].v === i * 10 && r.rows[0].s === `p${i}`, `prepared exec ${i} returned ${JSON.stringify(r.rows)}`)
    }
    r = await client.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'pgask_mul'")
    check(r.rows[0].n === 1, `named statement pgask_mul not found server-side (n=${r.rows[0].n})`)
    step('named prepared statement executed 4 times (parsed once, server-side)')

    // --- transaction ----------------------------------------------------------
    await client.query('CREATE TEMP TABLE t_tx (id int PRIMARY KEY, note text)')
    await client.query('BEGIN')
    await client.query('INSERT INTO t_tx VALUES ($1, $2)', [1, 'committed'])
    await client.query('COMMIT')
    await client.query('BEGIN')
    await client.query('INSERT INTO t_tx VALUES ($1, $2)', [2, 'rolled back'])
    r = await client.query('SELECT count(*)::int AS n FROM t_tx')
    check(r.rows[0].n === 2, 'row not visible inside transaction')
    await client.query('ROLLBACK')
    r = await client.query('SELECT id, note FROM t_tx ORDER BY id')
    check(r.rows.length === 1 && r.rows[0].id === 1 && r.rows[0].note === 'committed',
      `transaction effects wrong: ${JSON.stringify(r.rows)}`)
    step('transaction commit/rollback ok')

    // --- COPY FROM STDIN / TO STDOUT -------------------------------------------
    await client.query('CREATE TEMP TABLE t_copy (id int, name text, amount numeric)')
    const lines = []
    for (let i = 1; i <= 500; i++) lines.push(`${i}\tname-${i} Grüße\t${i / 4}\n`)
    const ingest = client.query(copyStreams.from('COPY t_copy (id, name, amount) FROM STDIN'))
    await withTimeout(pipeline(Readable.from(lines.map((l) => Buffer.from(l))), ingest), TIMEOUT_MS, 'COPY FROM STDIN')
    check(ingest.rowCount === 500, `COPY FROM STDIN rowCount ${ingest.rowCount}`)
    r = await client.query('SELECT count(*)::int AS n, sum(id)::int AS s FROM t_copy')
    check(r.rows[0].n === 500 && r.rows[0].s === 125250, `COPY FROM STDIN count/sum wrong: ${JSON.stringify(r.rows[0])}`)
    step('COPY FROM STDIN ok (500 rows)')

    const chunks = []
    const sink = new Writable({
      write(chunk, _enc, cb2) {
        chunks.push(chunk)
        cb2()
      },
    })
    const out = client.query(copyStreams.to('COPY (SELECT id, name FROM t_copy ORDER BY id) TO STDOUT'))
    await withTimeout(pipeline(out, sink), TIMEOUT_MS, 'COPY TO STDOUT')
    const outLines = Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l.length > 0)
    check(outLines.length === 500, `COPY TO STDOUT returned ${outLines.length} lines`)
    check(outLines[0] === '1\tname-1 Grüße', `COPY TO STDOUT first line ${JSON.stringify(outLines[0])}`)
    check(outLines[499] === '500\tname-500 Grüße', `COPY TO STDOUT last line ${JSON.stringify(outLines[499])}`)
    step('COPY TO STDOUT ok (500 lines)')

    // --- LISTEN / NOTIFY ---------------------------------------------------------
    const got = new Promise((resolve) => {
      client.on('notification', (msg) => {
        if (msg.channel === 'pgask_chan') resolve(msg)
      })
    })
    await client.query('LISTEN pgask_chan')
    await client.query("SELECT pg_notify('pgask_chan', 'hello from node ü')")
    const msg = await withTimeout(got, 5000, 'waiting for notification')
    check(msg.payload === 'hello from node ü', `unexpected notification ${JSON.stringify(msg)}`)
    check(msg.processId === client.processID, 'notification pid mismatch')
    await client.query('UNLISTEN *')
    step(`LISTEN/NOTIFY ok (payload=${JSON.stringify(msg.payload)})`)

    // --- data types -------------------------------------------------------------
    r = await client.query(
      "SELECT 'Grüße, 日本語'::text AS t, NULL::text AS n, 12345.6789::numeric(12,4) AS num," +
        " '2024-02-29 12:34:56.789+00'::timestamptz AS ts, '\\xdeadbeef00'::bytea AS b," +
        ' ARRAY[1,2,NULL,4]::int[] AS arr'
    )
    const row = r.rows[0]
    check(row.t === 'Grüße, 日本語', `non-ASCII text ${JSON.stringify(row.t)}`)
    check(row.n === null, `NULL came back as ${JSON.stringify(row.n)}`)
    check(row.num === '12345.6789', `numeric ${JSON.stringify(row.num)}`)
    check(row.ts instanceof Date && row.ts.toISOString() === '2024-02-29T12:34:56.789Z', `timestamptz ${row.ts}`)
    check(Buffer.isBuffer(row.b) && row.b.equals(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00])), `bytea ${row.b}`)
    check(JSON.stringify(row.arr) === '[1,2,null,4]', `int[] ${JSON.stringify(row.arr)}`)
    step('types (text/NULL/numeric/timestamptz/bytea/int[]) ok')

    r = await client.query('SELECT $1::text AS t, $2::bytea AS b, $3::int[] AS a, $4::numeric AS n, $5::text AS z', [
      'Grüße, 日本語',
      Buffer.from([0x00, 0xff]),
      [7, 8, 9],
      '-0.5',
      null,
    ])
    const p = r.rows[0]
    check(p.t === 'Grüße, 日本語' && p.b.equals(Buffer.from([0x00, 0xff])) && JSON.stringify(p.a) === '[7,8,9]' &&
      p.n === '-0.5' && p.z === null, `parameter round trip ${JSON.stringify(p)}`)
    step('parameter round trip ok')
  } finally {
    await withTimeout(client.end(), TIMEOUT_MS, 'client.end')
  }
  console.log(`OK ${DRIVER}`)
}

const hardTimeout = setTimeout(() => {
  console.error(`[${DRIVER}] FAIL: overall timeout (120s) exceeded`)
  process.exit(2)
}, 120000)
hardTimeout.unref()

main().then(
  () => process.exit(0),
  (err) => {
    if (err && err.stack) console.error(err.stack)
    console.error(`[${DRIVER}] FAIL: ${err && err.message ? err.message : err}`)
    process.exit(1)
  }
)
