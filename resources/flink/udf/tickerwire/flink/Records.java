/*
 * Record checks shared by the job's parsing functions. They mirror backend/bus/schema.py
 * rule for rule and reason for reason, so a message the app would reject is dead-lettered
 * by the job with the same explanation.
 */
package tickerwire.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

final class Records {
    static final int SCHEMA_VERSION = 1;
    static final ObjectMapper MAPPER =
            new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /** A payload that breaks the schema; the message is the reason. */
    static final class Invalid extends Exception {
        Invalid(String reason) {
            super(reason, null, false, false);
        }
    }

    private Records() {}

    static JsonNode parseObject(String payload) throws Invalid {
        JsonNode node;
        try {
            node = MAPPER.readTree(payload);
        } catch (Exception e) {
            String message = String.valueOf(e.getMessage());
            int newline = message.indexOf('\n');
            throw new Invalid("not valid JSON: " + (newline >= 0 ? message.substring(0, newline) : message));
        }
        if (node == null || !node.isObject()) {
            throw new Invalid("not a JSON object");
        }
        return node;
    }

    /** Python-style repr of a field value for reasons: 'text', None, or the JSON text. */
    static String repr(JsonNode node) {
        if (node == null || node.isNull()) {
            return "None";
        }
        if (node.isTextual()) {
            return "'" + node.textValue() + "'";
        }
        if (node.isBoolean()) {
            return node.booleanValue() ? "True" : "False";
        }
        return node.toString();
    }

    static void checkEnvelope(JsonNode data, String expectedType) throws Invalid {
        JsonNode type = data.get("type");
        if (type == null || !type.isTextual() || !type.textValue().equals(expectedType)) {
            throw new Invalid("type: expected '" + expectedType + "', got " + repr(type));
        }
        JsonNode version = data.get("version");
        if (version == null || !version.isIntegralNumber()) {
            throw new Invalid("version: missing or not an integer");
        }
        if (!version.canConvertToLong() || version.longValue() != SCHEMA_VERSION) {
            throw new Invalid("version: unsupported " + version + " (this reader understands " + SCHEMA_VERSION + ")");
        }
    }

    static long intField(JsonNode data, String name) throws Invalid {
        JsonNode node = data.get(name);
        if (node == null || !node.isIntegralNumber()) {
            throw new Invalid(name + ": missing or not an integer");
        }
        if (!node.canConvertToLong()) {
            throw new Invalid(name + ": out of range");
        }
        return node.longValue();
    }

    static double numberField(JsonNode data, String name, boolean required) throws Invalid {
        JsonNode node = data.get(name);
        if (node == null && !required) {
            return 0.0;
        }
        if (node == null || !node.isNumber() || !Double.isFinite(node.doubleValue())) {
            throw new Invalid(name + ": missing or not a number");
        }
        return node.doubleValue();
    }

    static String textField(JsonNode data, String name, boolean required) throws Invalid {
        JsonNode node = data.get(name);
        if (node == null && !required) {
            return "";
        }
        if (node == null || !node.isTextual() || (required && node.textValue().isEmpty())) {
            throw new Invalid(name + ": missing or not a non-empty string");
        }
        return node.textValue();
    }

    static void textList(JsonNode data, String name) throws Invalid {
        JsonNode node = data.get(name);
        if (node == null) {
            return;
        }
        boolean ok = node.isArray();
        if (ok) {
            for (JsonNode item : node) {
                ok &= item.isTextual();
            }
        }
        if (!ok) {
            throw new Invalid(name + ": not a list of strings");
        }
    }

    /** Append `text` as a JSON string literal (quotes, backslashes and control characters escaped). */
    static void appendJsonString(StringBuilder out, String text) {
        out.append('"');
        for (int i = 0; i < text.length(); i++) {
            char ch = text.charAt(i);
            if (ch == '"' || ch == '\\') {
                out.append('\\').append(ch);
            } else if (ch < 0x20) {
                out.append(String.format("\\u%04x", (int) ch));
            } else {
                out.append(ch);
            }
        }
        out.append('"');
    }
}
