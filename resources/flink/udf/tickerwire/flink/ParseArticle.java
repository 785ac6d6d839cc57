/*
 * Flink SQL table function parse_article(payload): the article id of a valid v1 article
 * record, or the reason it is not one (same rules as backend/bus/schema.py).
 */
package tickerwire.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

public class ParseArticle extends TableFunction<Row> {
    @FunctionHint(output = @DataTypeHint("ROW<id STRING, error STRING>"))
    public void eval(String payload) {
        collect(parse(payload));
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
