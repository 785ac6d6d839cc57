/*
 * Flink SQL scalar function parse_bar(payload): one parse per message into a typed row, or a row
 * whose `error` says why the message is not a valid v1 bar record. Keeps the job's hot path in the
 * JVM (no per-row Python) and preserves the original payload for dead letters.
 *
 * Two paths, one set of rules: one strict pass over the message's bytes (BarScanner) accepts a
 * flat record that is valid as it stands (the common case, without building a JSON tree); anything
 * else -- a missing or mistyped field, a nested value, an escape, broken JSON -- is parsed again as
 * a tree by the checks in Records, which mirror backend/bus/schema.py and give the reason. The fast
 * pass accepts only what the tree checks accept, with the same values; `main` shows what each path
 * makes of a file of messages, which is how the tests check that.
 */
package tickerwire.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

public class ParseBar extends ScalarFunction {
    private static final String[] PRICE_FIELDS = {"o", "h", "l", "c", "v", "vw"};
    private static final String[] OPTIONAL_FIELDS = {"av", "op", "a", "z"};

    private transient StringData lastPayload;
    private transient RowData lastRow;

    /**
     * Parse ``payload``; the SQL reads several fields of the result, and the planner calls eval once
     * per field access, so the last result is kept and returned for the same message.
     */
    @DataTypeHint(value = "ROW<ev STRING, sym STRING, s BIGINT, e BIGINT, o DOUBLE, h DOUBLE, l DOUBLE, "
            + "c DOUBLE, v DOUBLE, vw DOUBLE, z DOUBLE, error STRING>", bridgedTo = RowData.class)
    public RowData eval(@DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData payload) {
        if (lastRow == null || payload == null || !payload.equals(lastPayload)) {
            lastRow = parse(payload);
            lastPayload = payload;
        }
        return lastRow;
    }

    static RowData parse(StringData payload) {
        if (payload == null) {
            return error("empty message (no value)");
        }
        RowData valid = BarScanner.scan(payload.toBytes());
        return valid != null ? valid : parseTree(payload.toString());
    }

    /** The tree pass: every check in order, so that an invalid message gets its reason. */
    static RowData parseTree(String payload) {
        try {
            JsonNode data = Records.parseObject(payload);
            Records.checkEnvelope(data, "bar");
            JsonNode ev = data.get("ev");
            String evText = ev != null && ev.isTextual() ? ev.textValue() : null;
            if (!"A".equals(evText) && !"AM".equals(evText)) {
                throw new Records.Invalid("ev: expected 'A' or 'AM', got " + Records.repr(ev));
            }
            String sym = Records.textField(data, "sym", true);
            long s = Records.intField(data, "s");
            long e = Records.intField(data, "e");
            double[] prices = new double[PRICE_FIELDS.length];
            for (int i = 0; i < prices.length; i++) {
                prices[i] = Records.numberField(data, PRICE_FIELDS[i], true);
            }
            double z = 0.0;
            for (String name : OPTIONAL_FIELDS) {
                double value = Records.numberField(data, name, false);
                if (name.equals("z")) {
                    z = value;
                }
            }
            if (prices[4] < 0) {
                throw new Records.Invalid("v: negative volume");
            }
            if (z < 0) {
                throw new Records.Invalid("z: negative average trade size");
            }
            JsonNode otc = data.get("otc");
            if (otc != null && !otc.isBoolean()) {
                throw new Records.Invalid("otc: not a boolean");
            }
            return GenericRowData.of(StringData.fromString(evText), StringData.fromString(sym), s, e, prices[0],
                    prices[1], prices[2], prices[3], prices[4], prices[5], z, null);
        } catch (Records.Invalid invalid) {
            return error(invalid.getMessage());
        }
    }

    private static RowData error(String reason) {
        return GenericRowData.of(null, null, null, null, null, null, null, null, null, null, null,
                StringData.fromString(reason));
    }

    /**
     * What each path makes of each line of standard input (a message), as a JSON line:
     * {"fast": [ev, sym, s, e, o, h, l, c, v, vw, z, error] or null, "tree": [the same fields]}.
     */
    public static void main(String[] args) throws IOException {
        BufferedReader lines = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = lines.readLine()) != null) {
            ObjectNode out = Records.MAPPER.createObjectNode();
            RowData fast = BarScanner.scan(line.getBytes(StandardCharsets.UTF_8));
            if (fast == null) {
                out.putNull("fast");
            } else {
                fields(fast, out.putArray("fast"));
            }
            fields(parseTree(line), out.putArray("tree"));
            System.out.println(out);
        }
    }

    private static void fields(RowData row, ArrayNode out) {
        for (int i = 0; i < 12; i++) {
            if (row.isNullAt(i)) {
                out.addNull();
            } else if (i < 2 || i == 11) {
                out.add(row.getString(i).toString());
            } else if (i < 4) {
                out.add(row.getLong(i));
            } else {
                out.add(row.getDouble(i));
            }
        }
    }
}
