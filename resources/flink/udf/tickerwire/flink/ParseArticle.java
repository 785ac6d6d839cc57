/*
 * Flink SQL scalar function parse_article(payload): the article id of a valid v1 article
 * record, or the reason it is not one (same rules as backend/bus/schema.py).
 */
package tickerwire.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.types.Row;

public class ParseArticle extends ScalarFunction {
    private String lastPayload;
    private Row lastRow;

    /**
     * Parse ``payload``; the SQL reads several fields of the result, and the planner calls
     * eval once per field access, so the last result is kept and returned for the same text.
     */
    @DataTypeHint("ROW<id STRING, error STRING>")
    public Row eval(String payload) {
        if (lastRow == null || payload == null || !payload.equals(lastPayload)) {
            lastRow = parse(payload);
            lastPayload = payload;
        }
        return lastRow;
    }

    private static Row parse(String payload) {
        if (payload == null) {
            return Row.of(null, "empty message (no value)");
        }
        try {
            JsonNode data = Records.parseObject(payload);
            Records.checkEnvelope(data, "article");
            String id = Records.textField(data, "id", true);
            Records.intField(data, "published_ms");
            Records.textField(data, "title", true);
            Records.textField(data, "url", true);
            Records.textField(data, "section", false);
            Records.textField(data, "summary", false);
            Records.textField(data, "thumbnail", false);
            if (data.has("updated_ms")) {
                Records.intField(data, "updated_ms");
            }
            Records.textList(data, "symbols");
            Records.textList(data, "queries");
            return Row.of(id, null);
        } catch (Records.Invalid invalid) {
            return Row.of(null, invalid.getMessage());
        }
    }
}
