/*
 * Flink SQL scalar function parse_bar(payload): one parse per message into a typed row, or a row
 * whose `error` says why the message is not a valid v1 bar record. Keeps the job's hot path in the
 * JVM (no per-row Python) and preserves the original payload for dead letters.
 *
 * Two paths, one set of rules: a streaming pass over the message's bytes accepts a flat record
 * that is valid as it stands (the common case, without building a JSON tree); anything else --
 * a missing or mistyped field, a nested value, broken JSON -- is parsed again as a tree by the
 * checks in Records, which mirror backend/bus/schema.py and give the reason. The streaming pass
 * accepts only what the tree checks accept, with the same values.
 */
package tickerwire.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

import java.io.IOException;

public class ParseBar extends ScalarFunction {
    private static final String[] PRICE_FIELDS = {"o", "h", "l", "c", "v", "vw"};
    private static final String[] OPTIONAL_FIELDS = {"av", "op", "a", "z"};
    /** Jackson's fast double parser: correctly rounded like Double.parseDouble (and Python's float), faster. */
    private static final JsonFactory JSON =
            JsonFactory.builder().enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER).build();
    private static final StringData A = StringData.fromString("A");
    private static final StringData AM = StringData.fromString("AM");

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
        RowData valid = parseValid(payload.toBytes());
        return valid != null ? valid : parseTree(payload.toString());
    }

    /** The streaming pass: the row of a flat, valid bar record; null for anything else. */
    static RowData parseValid(byte[] json) {
        boolean typeOk = false, versionOk = false, otcOk = true;
        StringData ev = null;
        String sym = null;
        long s = 0, e = 0;
        boolean hasS = false, hasE = false;
        double[] prices = new double[PRICE_FIELDS.length];
        boolean[] hasPrice = new boolean[PRICE_FIELDS.length];
        double z = 0.0;
        try (JsonParser parser = JSON.createParser(json)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            JsonToken token;
            while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken value = parser.nextToken();
                if (value == JsonToken.START_OBJECT || value == JsonToken.START_ARRAY) {
                    return null;
                }
                boolean integral = value == JsonToken.VALUE_NUMBER_INT
                        && parser.getNumberType() != JsonParser.NumberType.BIG_INTEGER;
                boolean number = integral || value == JsonToken.VALUE_NUMBER_FLOAT;
                switch (name) {
                    case "type" -> typeOk = value == JsonToken.VALUE_STRING && "bar".equals(parser.getText());
                    case "version" -> versionOk = integral && parser.getLongValue() == Records.SCHEMA_VERSION;
                    case "ev" -> {
                        String text = value == JsonToken.VALUE_STRING ? parser.getText() : null;
                        ev = "A".equals(text) ? A : "AM".equals(text) ? AM : null;
                    }
                    case "sym" -> sym = value == JsonToken.VALUE_STRING ? parser.getText() : null;
                    case "s" -> {
                        hasS = integral;
                        s = integral ? parser.getLongValue() : 0;
                    }
                    case "e" -> {
                        hasE = integral;
                        e = integral ? parser.getLongValue() : 0;
                    }
                    case "otc" -> otcOk = value == JsonToken.VALUE_TRUE || value == JsonToken.VALUE_FALSE;
                    default -> {
                        int price = indexOf(PRICE_FIELDS, name);
                        int optional = price < 0 ? indexOf(OPTIONAL_FIELDS, name) : -1;
                        if (price >= 0 || optional >= 0) {
                            double x = number ? parser.getDoubleValue() : Double.NaN;
                            if (!Double.isFinite(x)) {
                                return null;
                            }
                            if (price >= 0) {
                                prices[price] = x;
                                hasPrice[price] = true;
                            } else if (name.equals("z")) {
                                z = x;
                            }
                        }
                    }
                }
            }
            if (token != JsonToken.END_OBJECT || parser.nextToken() != null) {
                return null;
            }
        } catch (IOException | RuntimeException notFlatOrValid) {
            return null;
        }
        boolean pricesOk = true;
        for (boolean has : hasPrice) {
            pricesOk &= has;
        }
        if (!typeOk || !versionOk || ev == null || sym == null || sym.isEmpty() || !hasS || !hasE || !pricesOk
                || !otcOk || prices[4] < 0 || z < 0) {
            return null;
        }
        return GenericRowData.of(ev, StringData.fromString(sym), s, e, prices[0], prices[1], prices[2], prices[3],
                prices[4], prices[5], z, null);
    }

    private static int indexOf(String[] names, String name) {
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
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
}
