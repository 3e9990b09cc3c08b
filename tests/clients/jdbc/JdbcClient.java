// pgJDBC driver check for pgask.
//
// Connection settings come from PGHOST, PGPORT, PGUSER, PGPASSWORD,
// PGDATABASE and optionally PGSSLMODE (default "disable") / PGSSLROOTCERT.
// Exercises simple queries, server-side prepared statements
// (prepareThreshold=1), transactions, COPY in/out via CopyManager,
// LISTEN/NOTIFY via PGConnection.getNotifications(timeout), the LargeObject API
// (which uses the FunctionCall 'F' protocol message) and a handful of types.
// Prints one line per step and "OK jdbc" at the end; exits non-zero on failure.
//
// Build and run (from anywhere):
//   javac -cp /usr/share/java/postgresql.jar -d /tmp/jdbc-out tests/clients/jdbc/JdbcClient.java
//   java -cp /tmp/jdbc-out:/usr/share/java/postgresql.jar JdbcClient

import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.Properties;

import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;
import org.postgresql.largeobject.LargeObject;
import org.postgresql.largeobject.LargeObjectManager;

public class JdbcClient {
    private static final String DRIVER = "jdbc";
    private static final int TIMEOUT_S = 10;

    static void step(String msg) {
        System.out.println("[" + DRIVER + "] " + msg);
        System.out.flush();
    }

    static void check(boolean cond, String msg) {
        if (!cond) {
            throw new AssertionError(msg);
        }
    }

    static String env(String name, String dflt) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            if (dflt == null) {
                throw new IllegalStateException("environment variable " + name + " is not set");
            }
            return dflt;
        }
        return v;
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    public static void main(String[] args) {
        // Hard upper bound on the whole run, so nothing can hang a test suite.
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(120_000);
                System.err.println("[" + DRIVER + "] FAIL: overall timeout (120s) exceeded");
                Runtime.getRuntime().halt(2);
            } catch (InterruptedException ignored) {
                // normal exit
            }
        });
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            run();
            System.out.println("OK " + DRIVER);
            System.out.flush();
            System.exit(0);
        } catch (Throwable t) {
            t.printStackTrace();
            System.err.println("[" + DRIVER + "] FAIL: " + t);
            System.exit(1);
        }
    }

    static void run() throws Exception {
        String host = env("PGHOST", null);
        String port = env("PGPORT", null);
        String user = env("PGUSER", null);
        String password = env("PGPASSWORD", null);
        String db = env("PGDATABASE", null);
        String sslmode = env("PGSSLMODE", "disable");
        if (host.startsWith("/")) {
            throw new IllegalStateException("PGHOST=" + host + " is a unix socket directory; pgJDBC needs TCP");
        }
        String hostPart = host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
        String url = "jdbc:postgresql://" + hostPart + ":" + port + "/" + enc(db)
                + "?sslmode=" + enc(sslmode)
                + "&prepareThreshold=1"
                + "&connectTimeout=" + TIMEOUT_S
                + "&loginTimeout=" + TIMEOUT_S
                + "&socketTimeout=" + (TIMEOUT_S * 3)
                + "&ApplicationName=pgask-jdbc";
        String rootCert = System.getenv("PGSSLROOTCERT");
        if (rootCert != null && !rootCert.isEmpty()) {
            url += "&sslrootcert=" + enc(rootCert);
        }
        Properties props = new Properties();
        props.setProperty("user", user);
        props.setProperty("password", password);

        try (Connection conn = DriverManager.getConnection(url, props)) {
            PGConnection pg = conn.unwrap(PGConnection.class);
            step("connected (" + url + ", server " + conn.getMetaData().getDatabaseProductVersion()
                    + ", backend pid " + pg.getBackendPID() + ")");

            try (Statement st = conn.createStatement()) {
                st.setQueryTimeout(TIMEOUT_S);

                // --- session identity + simple query ---------------------------------
                try (ResultSet rs = st.executeQuery("SELECT current_user, current_database()")) {
                    check(rs.next(), "no identity row");
                    check(user.equals(rs.getString(1)) && db.equals(rs.getString(2)),
                            "unexpected session identity " + rs.getString(1) + "/" + rs.getString(2));
                    step("session identity ok: " + rs.getString(1) + "/" + rs.getString(2));
                }
                try (ResultSet rs = st.executeQuery("SELECT 1 + 1 AS two, 'hello'::text AS greeting")) {
                    check(rs.next(), "no row");
                    check(rs.getInt(1) == 2 && "hello".equals(rs.getString(2)),
                            "simple query returned " + rs.getInt(1) + "," + rs.getString(2));
                    check(!rs.next(), "more than one row");
                }
                step("simple query ok");

                // --- PreparedStatement reused with different params -----------------
                try (PreparedStatement ps = conn.prepareStatement("SELECT ?::int * 10 AS v, ?::text AS s")) {
                    ps.setQueryTimeout(TIMEOUT_S);
                    for (int i = 1; i <= 4; i++) {
                        ps.setInt(1, i);
                        ps.setString(2, "p" + i);
                        try (ResultSet rs = ps.executeQuery()) {
                            check(rs.next(), "no row for prepared exec " + i);
                            check(rs.getInt(1) == i * 10 && ("p" + i).equals(rs.getString(2)),
                                    "prepared exec " + i + " returned " + rs.getInt(1) + "," + rs.getString(2));
                        }
                    }
                    try (ResultSet rs = st.executeQuery(
                            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%* 10 AS v%'"
                                    + " AND statement NOT LIKE '%pg_prepared_statements%'")) {
                        rs.next();
                        check(rs.getInt(1) >= 1, "expected a server-side prepared statement (prepareThreshold=1)");
                        step("PreparedStatement executed 4 times (server-side prepared: " + rs.getInt(1) + ")");
                    }
                }

                // --- transactions ------------------------------------------------------
                st.execute("CREATE TEMP TABLE t_tx (id int PRIMARY KEY, note text)");
                conn.setAutoCommit(false);
                try (PreparedStatement ins = conn.prepareStatement("INSERT INTO t_tx VALUES (?, ?)")) {
                    ins.setInt(1, 1);
                    ins.setString(2, "committed");
                    check(ins.executeUpdate() == 1, "insert 1");
                    conn.commit();
                    ins.setInt(1, 2);
                    ins.setString(2, "rolled back");
                    check(ins.executeUpdate() == 1, "insert 2");
                    try (ResultSet rs = st.executeQuery("SELECT count(*) FROM t_tx")) {
                        rs.next();
                        check(rs.getInt(1) == 2, "row not visible inside transaction");
                    }
                    conn.rollback();
                }
                conn.setAutoCommit(true);
                try (ResultSet rs = st.executeQuery("SELECT id, note FROM t_tx ORDER BY id")) {
                    check(rs.next() && rs.getInt(1) == 1 && "committed".equals(rs.getString(2)),
                            "committed row missing");
                    check(!rs.next(), "rolled-back row is visible");
                }
                step("transaction commit/rollback ok");

                // --- COPY via CopyManager ----------------------------------------------
                st.execute("CREATE TEMP TABLE t_copy (id int, name text, amount numeric)");
                CopyManager cm = pg.getCopyAPI();
                StringBuilder sb = new StringBuilder();
                for (int i = 1; i <= 500; i++) {
                    sb.append(i).append('\t').append("name-").append(i).append(" Grüße").append('\t')
                            .append(new BigDecimal(i).divide(new BigDecimal(4)).toPlainString()).append('\n');
                }
                long copied = cm.copyIn("COPY t_copy (id, name, amount) FROM STDIN", new StringReader(sb.toString()));
                check(copied == 500, "copyIn returned " + copied);
                try (ResultSet rs = st.executeQuery("SELECT count(*), sum(id) FROM t_copy")) {
                    rs.next();
                    check(rs.getLong(1) == 500 && rs.getLong(2) == 125250,
                            "COPY FROM STDIN count/sum wrong: " + rs.getLong(1) + "/" + rs.getLong(2));
                }
                step("COPY FROM STDIN ok (500 rows)");

                StringWriter out = new StringWriter();
                long outRows = cm.copyOut("COPY (SELECT id, name FROM t_copy ORDER BY id) TO STDOUT", out);
                check(outRows == 500, "copyOut returned " + outRows);
                String[] lines = out.toString().split("\n");
                check(lines.length == 500, "COPY TO STDOUT returned " + lines.length + " lines");
                check(lines[0].equals("1\tname-1 Grüße"), "COPY TO STDOUT first line " + lines[0]);
                check(lines[499].equals("500\tname-500 Grüße"), "COPY TO STDOUT last line " + lines[499]);
                step("COPY TO STDOUT ok (500 lines)");

                // --- LISTEN / NOTIFY ---------------------------------------------------
                st.execute("LISTEN pgask_chan");
                st.execute("SELECT pg_notify('pgask_chan', 'hello from jdbc ü')");
                PGNotification got = null;
                long deadline = System.currentTimeMillis() + 5000;
                while (got == null && System.currentTimeMillis() < deadline) {
                    PGNotification[] ns = pg.getNotifications(500);
                    if (ns != null) {
                        for (PGNotification n : ns) {
                            if ("pgask_chan".equals(n.getName())) {
                                got = n;
                            }
                        }
                    }
                }
                check(got != null, "no notification received within 5s");
                check("hello from jdbc ü".equals(got.getParameter()), "unexpected payload " + got.getParameter());
                check(got.getPID() == pg.getBackendPID(), "notification pid mismatch");
                st.execute("UNLISTEN *");
                step("LISTEN/NOTIFY ok (payload='" + got.getParameter() + "')");

                // --- Large objects (FunctionCall 'F' protocol) ------------------------
                conn.setAutoCommit(false);
                LargeObjectManager lom = pg.getLargeObjectAPI();
                byte[] data = new byte[70_000];
                for (int i = 0; i < data.length; i++) {
                    data[i] = (byte) (i * 31 + 7);
                }
                long oid = lom.createLO(LargeObjectManager.READ | LargeObjectManager.WRITE);
                LargeObject lo = lom.open(oid, LargeObjectManager.WRITE);
                lo.write(data);
                lo.close();
                lo = lom.open(oid, LargeObjectManager.READ);
                check(lo.size() == data.length, "large object size " + lo.size());
                byte[] back = lo.read(data.length);
                lo.seek(100);
                byte[] mid = lo.read(10);
                lo.close();
                check(Arrays.equals(data, back), "large object content mismatch");
                check(Arrays.equals(Arrays.copyOfRange(data, 100, 110), mid), "large object seek/read mismatch");
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_largeobject_metadata WHERE oid = " + oid)) {
                    rs.next();
                    check(rs.getInt(1) == 1, "large object not visible in its transaction");
                }
                conn.rollback();  // leave nothing behind
                conn.setAutoCommit(true);
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_largeobject_metadata WHERE oid = " + oid)) {
                    rs.next();
                    check(rs.getInt(1) == 0, "large object survived rollback");
                }
                step("LargeObject create/write/read via fastpath ok (" + data.length + " bytes, oid " + oid + ", rolled back)");

                // --- data types -----------------------------------------------------------
                try (ResultSet rs = st.executeQuery(
                        "SELECT 'Grüße, 日本語'::text, NULL::text, 12345.6789::numeric(12,4),"
                                + " '2024-02-29 12:34:56.789+00'::timestamptz, '\\xdeadbeef00'::bytea,"
                                + " ARRAY[1,2,NULL,4]::int[]")) {
                    check(rs.next(), "no type row");
                    check("Grüße, 日本語".equals(rs.getString(1)), "non-ASCII text " + rs.getString(1));
                    check(rs.getString(2) == null && rs.wasNull(), "NULL came back as " + rs.getString(2));
                    check(new BigDecimal("12345.6789").equals(rs.getBigDecimal(3)), "numeric " + rs.getBigDecimal(3));
                    OffsetDateTime ts = rs.getObject(4, OffsetDateTime.class);
                    check(ts != null && ts.toInstant().equals(
                            OffsetDateTime.of(2024, 2, 29, 12, 34, 56, 789_000_000, ZoneOffset.UTC).toInstant()),
                            "timestamptz " + ts);
                    check(Arrays.equals(new byte[] {(byte) 0xde, (byte) 0xad, (byte) 0xbe, (byte) 0xef, 0},
                            rs.getBytes(5)), "bytea " + Arrays.toString(rs.getBytes(5)));
                    Array arr = rs.getArray(6);
                    Integer[] ints = (Integer[]) arr.getArray();
                    check(Arrays.equals(new Integer[] {1, 2, null, 4}, ints), "int[] " + Arrays.toString(ints));
                }
                step("types (text/NULL/numeric/timestamptz/bytea/int[]) ok");

                try (PreparedStatement ps = conn.prepareStatement(
                        "SELECT ?::text, ?::bytea, ?::int[], ?::numeric, ?::text")) {
                    ps.setString(1, "Grüße, 日本語");
                    ps.setBytes(2, new byte[] {0, (byte) 0xff});
                    ps.setArray(3, conn.createArrayOf("int4", new Integer[] {7, 8, 9}));
                    ps.setBigDecimal(4, new BigDecimal("-0.5"));
                    ps.setNull(5, java.sql.Types.VARCHAR);
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "no param row");
                        check("Grüße, 日本語".equals(rs.getString(1)), "param text " + rs.getString(1));
                        check(Arrays.equals(new byte[] {0, (byte) 0xff}, rs.getBytes(2)), "param bytea");
                        check(Arrays.equals(new Integer[] {7, 8, 9}, (Integer[]) rs.getArray(3).getArray()), "param int[]");
                        check(new BigDecimal("-0.5").equals(rs.getBigDecimal(4)), "param numeric " + rs.getBigDecimal(4));
                        check(rs.getString(5) == null, "param NULL");
                    }
                }
                step("parameter round trip ok");
            }
        } catch (SQLException e) {
            throw new RuntimeException("SQL error: " + e.getMessage() + " (SQLState " + e.getSQLState() + ")", e);
        }
    }
}
