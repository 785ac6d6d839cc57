/*
 * Flink SQL scalar function parse_bar(payload): one Jackson parse per message into a typed
 * row, or a row whose `error` says why the message is not a valid v1 bar record. Keeps the
 * job's hot path in the JVM (no per-row Python) and preserves the original payload for
 * dead letters.
 */
package tickerwire.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

public class ParseBar extends ScalarFunction {
    private static final String[] PRICE_FIELDS = {"o", "h", "l", "c", "v", "vw"};
    private static final String[] OPTIONAL_FIELDS = {"av", "op", "a", "z"};

    private String lastPayload;
    private Row lastRow;

    /**
     * Parse ``payload``; the SQL reads several fields of the result, and the planner calls
     * eval once per field access, so the last result is kept and returned for the same text.
     */
    @DataTypeHint("ROW<ev STRING, sym STRING, s BIGINT, e BIGINT, o DOUBLE, h DOUBLE, l DOUBLE, c DOUBLE, "
            + "v DOUBLE, vw DOUBLE, z DOUBLE, error STRING>")
    public Row eval(String payload) {
        if (lastRow == null || payload == null || !payload.equals(lastPayload)) {
            lastRow = parse(payload);
            lastPayload = payload;
        }
        return lastRow;
    }

    private static Row parse(String payload) {
        if (payload == null) {
            return error("empty message (no value)");
        }
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
            return Row.of(evText, sym, s, e, prices[0], prices[1], prices[2], prices[3], prices[4], prices[5], z,
                    null);
        } catch (Records.Invalid invalid) {
            return error(invalid.getMessage());
        }
    }

    private static Row error(String reason) {
        return Row.of(null, null, null, null, null, null, null, null, null, null, null, reason);
    }
}
