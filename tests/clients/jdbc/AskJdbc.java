// pgJDBC asks through pgask (DBeaver and Metabase use this driver).
//
// Reads PGHOST, PGPORT, PGUSER, PGDATABASE (trust login). The proxy under test
// answers every ask with
// "SELECT artist_id, name FROM artist ORDER BY artist_id LIMIT 3" over chinook.
// Checks: Statement.executeQuery of an ask with Metabase's leading comment, the
// NOTICE (SQLWarning) with the SQL, ResultSetMetaData from Describe, and a
// PreparedStatement executed 7 times (pgJDBC switches to a named server
// statement after prepareThreshold=5), and an ask read with autocommit off and a
// fetch size of 2 (a portal fetched in parts inside a transaction), also with
// autosave=always (a savepoint released between fetches), and with
// prepareThreshold=1 (a named BEGIN in front of each transaction's ask). Prints
// "OK ask jdbc"; exits 1 on failure.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class AskJdbc {
    static List<String> names(ResultSet rs) throws Exception {
        List<String> out = new ArrayList<>();
        while (rs.next()) {
            out.add(rs.getInt(1) + ":" + rs.getString(2));
        }
        return out;
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    public static void main(String[] args) {
        try {
            String url = "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT")
                    + "/" + System.getenv("PGDATABASE") + "?sslmode=disable&connectTimeout=10";
            Properties p = new Properties();
            p.setProperty("user", System.getenv("PGUSER"));
            String want = "[1:AC/DC, 2:Accept, 3:Aerosmith]";
            try (Connection c = DriverManager.getConnection(url, p)) {
                try (Statement s = c.createStatement()) {
                    ResultSet rs = s.executeQuery(
                            "-- Metabase:: userID: 1 queryType: native queryHash: 0a1b\n-- ask: the first three artists");
                    check(rs.getMetaData().getColumnName(2).equals("name"), "column names");
                    check(names(rs).toString().equals(want), "rows");
                    SQLWarning w = s.getWarnings();
                    boolean sawSql = false;
                    for (; w != null; w = w.getNextWarning()) {
                        sawSql |= w.getMessage().contains("SELECT artist_id, name FROM artist");
                    }
                    check(sawSql, "the NOTICE with the SQL");
                }
                try (PreparedStatement ps = c.prepareStatement("/* ask: the first three artists */")) {
                    check(ps.getMetaData().getColumnCount() == 2, "metadata before execution");
                    for (int i = 0; i < 7; i++) {
                        check(names(ps.executeQuery()).toString().equals(want), "prepared run " + i);
                    }
                }
                c.setAutoCommit(false);
                try (Statement s = c.createStatement()) {
                    s.setFetchSize(2);
                    for (int i = 0; i < 2; i++) {
                        ResultSet rs = s.executeQuery("-- ask: the first three artists");
                        check(names(rs).toString().equals(want), "fetched in parts, run " + i);
                    }
                }
                c.commit();
                c.setAutoCommit(true);
            }
            // pgJDBC's autosave sets a savepoint before each statement and releases it after.
            Properties autosave = new Properties();
            autosave.putAll(p);
            autosave.setProperty("autosave", "always");
            autosave.setProperty("cleanupSavepoints", "true");
            try (Connection c = DriverManager.getConnection(url, autosave)) {
                c.setAutoCommit(false);
                try (Statement s = c.createStatement()) {
                    s.setFetchSize(2);
                    ResultSet rs = s.executeQuery("-- ask: the first three artists");
                    check(names(rs).toString().equals(want), "autosave, fetched in parts");
                }
                c.commit();
            }
            // Statements prepared on the server at once: pgJDBC's BEGIN is then a named
            // statement, bound unsynced in front of the ask.
            Properties prepared = new Properties();
            prepared.putAll(p);
            prepared.setProperty("prepareThreshold", "1");
            try (Connection c = DriverManager.getConnection(url, prepared)) {
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement("/* ask: the first three artists */")) {
                    for (int i = 0; i < 4; i++) {
                        check(names(ps.executeQuery()).toString().equals(want), "named BEGIN, tx " + i);
                        c.commit();
                    }
                }
            }
            try (Connection c = DriverManager.getConnection(url, p)) {
                try (Statement s = c.createStatement()) {
                    ResultSet rs = s.executeQuery("SELECT 40 + 2");
                    rs.next();
                    check(rs.getInt(1) == 42, "usable afterwards");
                }
            }
            System.out.println("OK ask jdbc");
        } catch (Throwable e) {
            System.out.println("[ask jdbc] FAIL: " + e);
            e.printStackTrace(System.out);
            System.exit(1);
        }
    }
}
