/*
 * The candle job's stateful heart: a keyed stream operator, one key per symbol, that turns the
 * symbol's bars (in arrival order) into its candles (1m, 5m, 15m, 1h, 1d). It sits between the
 * job's SQL (sources, parsing, sinks) through toDataStream/fromDataStream, with rows in the
 * runtime's own RowData format, so no row crosses into Python or is converted on the way.
 *
 * Semantics are those of the embedded aggregator, backend/processing/aggregator.py (the oracle):
 *   - the latest AM bar of a minute wins in full; a minute without one is built from its A second
 *     bars, each (symbol, second start) an upsert;
 *   - each roll-up merges the level below in time order (5m from 1m, 15m from 5m, 1h from 15m,
 *     1d from the New York day's hours): open of the first child, close of the last, extremes,
 *     volume and price x volume summed in child order, so the doubles are bit-for-bit the oracle's;
 *   - per-symbol event time: the watermark is the latest bar end seen minus the allowed lateness
 *     (15 min). A bar behind it is repaired as the embedded pipeline repairs late bars (late.py):
 *     an AM bar replaces its minute, an A bar is added to it, and every roll-up above is re-folded
 *     exactly. Second bars of minutes behind the watermark leave state; New York days before the
 *     watermark's previous day are evicted. A bar for an evicted day comes out at once as a row with
 *     late_reason set (the job sends it to the dead-letter topic with its partition and offset).
 *
 * State per symbol, one `Book` in one value state (one state lookup per bar; the heap state backend
 * hands out the live object, copied on write while a checkpoint is being taken): the latest bar end
 * and eviction horizon, `children` (every child's values, keyed by start and level) and `accs` (per
 * bucket: the fold of all children before the latest one, plus the latest one). The heap backend is
 * assumed: a backend that serialises state (RocksDB) would copy the whole book on every bar. A child
 * arriving in order costs a get and a put per level, whatever the bucket's size; only a correction
 * of an earlier child re-folds its bucket from `children`.
 *
 * Output is coalesced: each bar changes five candles, but only the latest version of each changed
 * candle leaves the operator, every `flushMs` (a processing-time timer), before every checkpoint
 * barrier (so a checkpoint never holds state whose candles were not sent) and at the end of input.
 * Within a flush candles leave in the order they were first changed, so one symbol's minutes stay
 * in time order. A burst of bars for one minute thus costs one row per candle per flush, not five
 * rows per bar through the sink.
 */
package tickerwire.flink;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.utils.ProjectedRowData;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;

import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongPredicate;

public class BuildCandles extends AbstractStreamOperator<RowData> implements OneInputStreamOperator<RowData, RowData> {
    /**
     * The input columns, in this order (the job's `prices_parsed` view): the parsed bar, then `error`
     * (why the message is not a valid bar, else null) and the raw message for dead letters.
     */
    public static final List<String> INPUT_COLUMNS = List.of("sym", "ev", "s", "e", "o", "h", "l", "c", "v", "vw",
            "z", "src_partition", "src_offset", "error", "src_topic", "k", "payload");
    /** What the operator reads of a valid bar: INPUT_COLUMNS' first fields (the raw message stays behind). */
    static final int BAR_FIELDS = 13;
    static final int ERROR = 13;
    /**
     * The output columns: a symbol's candle as its topic key and JSON record (late_reason null), or
     * its bar too late to merge (late_reason set, with the bar's partition and offset).
     */
    static final DataType OUTPUT_TYPE = DataTypes.ROW(
            DataTypes.FIELD("sym", DataTypes.STRING()),
            DataTypes.FIELD("k", DataTypes.STRING()),
            DataTypes.FIELD("payload", DataTypes.STRING()),
            DataTypes.FIELD("late_reason", DataTypes.STRING()),
            DataTypes.FIELD("src_partition", DataTypes.INT()),
            DataTypes.FIELD("src_offset", DataTypes.BIGINT()));
    /** Operator id: state in checkpoints and savepoints is found by it. */
    public static final String UID = "build-candles-v2";

    static final long MINUTE_MS = 60_000L;
    static final long HOUR_MS = 3_600_000L;
    static final ZoneId NEW_YORK = ZoneId.of("America/New_York");

    // Levels: a child of level k merges into a bucket of level k + 1.
    static final int SECOND = 0, MINUTE = 1, M5 = 2, M15 = 3, H1 = 4, D1 = 5;
    static final String[] TIMEFRAME = {null, "1m", "5m", "15m", "1h", "1d"};
    static final StringData AM = StringData.fromString("AM");
    static final long[] LENGTH = {1_000L, MINUTE_MS, 5 * MINUTE_MS, 15 * MINUTE_MS, HOUR_MS, 0L};

    /**
     * A symbol's state: the latest bar end seen, the start of the oldest New York day still in state,
     * the oldest minute that may still hold second bars (0: none yet), and the children and folds.
     */
    public static class Book {
        public long maxEnd;
        public long evictedBefore;
        public long secondsFrom;
        public Map<Long, Vals> children = new HashMap<>();
        public Map<Long, Acc> accs = new HashMap<>();

        /** Its type: POJOs and maps throughout, so that checkpoints never fall back to Kryo. */
        static TypeInformation<Book> type() {
            TypeInformation<Vals> vals = Types.POJO(Vals.class);
            return Types.POJO(Book.class, Map.of(
                    "maxEnd", Types.LONG, "evictedBefore", Types.LONG, "secondsFrom", Types.LONG,
                    "children", Types.MAP(Types.LONG, vals),
                    "accs", Types.MAP(Types.LONG, Types.POJO(Acc.class, Map.of(
                            "last", Types.LONG, "prefix", vals, "lastVals", vals, "am", Types.BOOLEAN,
                            "irregular", Types.BOOLEAN)))));
        }
    }

    /** A candle's values: prices, volume, price x volume, trades; vw is a minute's own VWAP (minutes only). */
    public static class Vals {
        public double o, h, l, c, v, pv, vw;
        public long n;

        static Vals of(double o, double h, double l, double c, double v, double pv, long n) {
            Vals x = new Vals();
            x.o = o;
            x.h = h;
            x.l = l;
            x.c = c;
            x.v = v;
            x.pv = pv;
            x.n = n;
            return x;
        }

        /** The oracle's merge of time-ordered parts: this (earlier) followed by `next`. */
        Vals then(Vals next) {
            return of(o, next.h > h ? next.h : h, next.l < l ? next.l : l, next.c, v + next.v, pv + next.pv,
                    n + next.n);
        }

        double vwap() {
            return v != 0 ? pv / v : c;
        }
    }

    /**
     * A bucket's fold: `prefix` merges every child before `last` (null when `last` is the first),
     * `lastVals` is the latest child. `am` marks a minute an AM bar has settled; `irregular` a
     * minute with a second bar not aligned to a whole second (re-folded by scanning `children`).
     */
    public static class Acc {
        public long last;
        public Vals prefix;
        public Vals lastVals;
        public boolean am;
        public boolean irregular;

        Vals value() {
            return prefix == null ? lastVals : prefix.then(lastVals);
        }
    }

    /** A candle waiting for the next flush: its symbol, level and start ... */
    private record CandleKey(String symbol, int level, long start) {}

    /** ... and its latest values, written as the candles topic's v1 JSON record (backend/bus/schema.py). */
    private record Candle(double open, double high, double low, double close, double volume, double vwap,
                          long trades) {
        String json(CandleKey key, StringBuilder out) {
            out.setLength(0);
            out.append("{\"type\":\"candle\",\"version\":1,\"symbol\":");
            Records.appendJsonString(out, key.symbol());
            return out.append(",\"timeframe\":\"").append(TIMEFRAME[key.level()])
                    .append("\",\"start_ms\":").append(key.start())
                    .append(",\"open\":").append(open).append(",\"high\":").append(high)
                    .append(",\"low\":").append(low).append(",\"close\":").append(close)
                    .append(",\"volume\":").append(volume).append(",\"vwap\":").append(vwap)
                    .append(",\"trades\":").append(trades).append('}').toString();
        }
    }

    private final long flushMs;
    private transient ValueState<Book> books;
    private transient Map<Long, Vals> children; // the current symbol's book's
    private transient Map<Long, Acc> accs;
    private transient Map<CandleKey, Candle> pending;
    private transient StringBuilder json;
    private transient boolean flushScheduled;
    private transient StreamRecord<RowData> outRecord;
    private transient long cachedHour;
    private transient long cachedDay;

    /** @param flushMs how long changed candles are coalesced before they leave (0: every bar's at once). */
    public BuildCandles(long flushMs) {
        this.flushMs = flushMs;
    }

    /** The operator's two tables: candles and late bars (OUTPUT_TYPE), invalid messages (INPUT_COLUMNS). */
    public record Attached(Table built, Table invalid) {}

    /**
     * Wire the operator in between the job's SQL: `parsed` (INPUT_COLUMNS) in, converted to a stream
     * once, so that the job reads and parses each message once; valid bars go keyed by symbol
     * through the operator, invalid messages come back out as they are. Called from the PyFlink
     * job through its gateway.
     */
    public static Attached attach(StreamTableEnvironment tableEnv, Table parsed, long flushMs) {
        DataType inputType = parsed.getResolvedSchema().toPhysicalRowDataType();
        RowType inputRow = (RowType) inputType.getLogicalType();
        if (!inputRow.getFieldNames().equals(INPUT_COLUMNS)) {
            throw new IllegalArgumentException("build-candles expects the columns " + INPUT_COLUMNS + ", got "
                    + inputRow.getFieldNames());
        }
        DataStream<RowData> rows = tableEnv.toDataStream(parsed, inputType.bridgedTo(RowData.class));
        RowType barRow = RowType.of(inputRow.getChildren().subList(0, BAR_FIELDS).toArray(new LogicalType[0]),
                inputRow.getFieldNames().subList(0, BAR_FIELDS).toArray(new String[0]));
        DataStream<RowData> built = rows
                .filter(row -> row.isNullAt(ERROR)).name("valid bars")
                .map(new BarFields(), InternalTypeInfo.of(barRow)).name("bar fields")
                .keyBy(new SymbolOf(), Types.STRING)
                .transform("build-candles", InternalTypeInfo.of((RowType) OUTPUT_TYPE.getLogicalType()),
                        new BuildCandles(flushMs))
                .uid(UID);
        DataStream<RowData> invalid = rows
                .filter(row -> !row.isNullAt(ERROR)).name("invalid messages")
                .returns(InternalTypeInfo.of(inputRow));
        return new Attached(tableEnv.fromDataStream(built), tableEnv.fromDataStream(invalid));
    }

    /** A valid bar without its raw message, which need not cross to the keyed operator. */
    public static final class BarFields implements MapFunction<RowData, RowData> {
        private transient ProjectedRowData projection;

        @Override
        public RowData map(RowData row) {
            if (projection == null) {
                int[] fields = new int[BAR_FIELDS];
                Arrays.setAll(fields, i -> i);
                projection = ProjectedRowData.from(fields);
            }
            return projection.replaceRow(row); // serialised at once by the keyed exchange
        }
    }

    /** The key: a bar's symbol. */
    public static final class SymbolOf implements KeySelector<RowData, String> {
        @Override
        public String getKey(RowData bar) {
            return bar.getString(0).toString();
        }
    }

    @Override
    public void open() throws Exception {
        super.open();
        books = getKeyedStateStore().getState(new ValueStateDescriptor<>("book", Book.type()));
        pending = new LinkedHashMap<>();
        json = new StringBuilder(256);
        outRecord = new StreamRecord<>(null);
        cachedHour = Long.MIN_VALUE;
    }

    @Override
    public void processElement(StreamRecord<RowData> record) throws Exception {
        RowData bar = record.getValue();
        Book book = books.value();
        if (book == null) {
            book = new Book();
        }
        children = book.children;
        accs = book.accs;
        process(bar, book);
        books.update(book);
        if (flushMs <= 0) {
            flush();
        } else if (!flushScheduled && !pending.isEmpty()) {
            flushScheduled = true;
            long now = getProcessingTimeService().getCurrentProcessingTime();
            getProcessingTimeService().registerTimer(now + flushMs, time -> {
                flushScheduled = false;
                flush();
            });
        }
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        flush(); // before the barrier: the checkpoint's state and the sink's records then agree
        super.prepareSnapshotPreBarrier(checkpointId);
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }

    private void flush() {
        for (Map.Entry<CandleKey, Candle> entry : pending.entrySet()) {
            CandleKey key = entry.getKey();
            String topicKey = key.symbol() + "|" + TIMEFRAME[key.level()] + "|" + key.start();
            output.collect(outRecord.replace(GenericRowData.of(StringData.fromString(key.symbol()),
                    StringData.fromString(topicKey), StringData.fromString(entry.getValue().json(key, json)),
                    null, null, null)));
        }
        pending.clear();
    }

    private void process(RowData bar, Book book) {
        boolean am = AM.equals(bar.getString(1));
        long start = bar.getLong(2);
        long end = bar.getLong(3);
        if (start < book.evictedBefore) {
            String reason = "late: the job's state for the New York day of " + Instant.ofEpochMilli(start)
                    + " was evicted (bars end at " + Instant.ofEpochMilli(book.maxEnd) + "); this bar was not merged";
            output.collect(outRecord.replace(GenericRowData.of(StringData.fromString(bar.getString(0).toString()),
                    null, null, StringData.fromString(reason), bar.getInt(11), bar.getLong(12))));
            return;
        }
        boolean late = start < book.maxEnd - lateness();
        if (!late && end > book.maxEnd) {
            book.maxEnd = end;
        }
        double v = bar.getDouble(8);
        double z = bar.getDouble(10);
        long trades = z > 0 ? Math.max(1L, (long) Math.rint(v / z)) : 0L;
        double vw = bar.getDouble(9);
        Vals values = Vals.of(bar.getDouble(4), bar.getDouble(5), bar.getDouble(6), bar.getDouble(7), v, vw * v,
                trades);
        values.vw = vw;
        long minute = start - Math.floorMod(start, MINUTE_MS);
        Vals minuteVals;
        if (late) {
            minuteVals = lateMinute(am, children.get(key(MINUTE, minute)), values);
        } else if (am) {
            Acc acc = accs.get(key(MINUTE, minute));
            if (acc == null) {
                acc = new Acc();
            }
            acc.am = true;
            accs.put(key(MINUTE, minute), acc);
            minuteVals = values;
        } else {
            if (book.secondsFrom == 0 || minute < book.secondsFrom) {
                book.secondsFrom = minute;
            }
            minuteVals = addChild(SECOND, start, minute, values);
            if (minuteVals == null) {
                return; // the minute's AM bar is authoritative
            }
            minuteVals.vw = minuteVals.vwap();
        }
        String symbol = bar.getString(0).toString();
        changed(symbol, MINUTE, minute, minuteVals, minuteVals.vw);
        Vals child = minuteVals;
        long childStart = minute;
        for (int level = MINUTE; level < D1; level++) {
            long bucket = level + 1 == D1 ? nyDayStart(childStart) : childStart - Math.floorMod(childStart, LENGTH[level + 1]);
            child = addChild(level, childStart, bucket, child);
            changed(symbol, level + 1, bucket, child, child.vwap());
            childStart = bucket;
        }
        sealSecondsBehind(book);
        evictBehind(book);
    }

    /**
     * A bar behind the watermark, merged as the embedded pipeline's late-bar repair does
     * (backend/processing/late.py): an AM bar, or any bar for a minute without a candle, replaces the
     * minute; an A bar is added to it (its seconds are no longer in state).
     */
    static Vals lateMinute(boolean am, Vals existing, Vals bar) {
        if (am || existing == null) {
            return bar;
        }
        Vals merged = Vals.of(existing.o, Math.max(existing.h, bar.h), Math.min(existing.l, bar.l), bar.c,
                existing.v + bar.v, existing.vw * existing.v + bar.vw * bar.v, existing.n + bar.n);
        merged.vw = merged.vwap();
        return merged;
    }

    /**
     * Drop the second bars (and their folds) of minutes wholly behind the watermark: a bar for such a
     * minute takes the late path, so they are never read again. Keeps state to ~15 minutes of seconds.
     */
    private void sealSecondsBehind(Book book) {
        long sealTo = Math.floorDiv(book.maxEnd - lateness(), MINUTE_MS) * MINUTE_MS;
        if (book.secondsFrom == 0 || book.secondsFrom >= sealTo) {
            return;
        }
        if ((sealTo - book.secondsFrom) / MINUTE_MS > 1_440) {
            removeSecondsBetween(book.secondsFrom, sealTo); // a long gap: one scan
        } else {
            for (long m = book.secondsFrom; m < sealTo; m += MINUTE_MS) {
                Acc acc = accs.get(key(MINUTE, m));
                if (acc == null) {
                    continue;
                }
                if (acc.irregular) {
                    removeSecondsBetween(m, m + MINUTE_MS);
                } else {
                    for (long s = m; s < m + MINUTE_MS; s += 1_000L) {
                        children.remove(key(SECOND, s));
                    }
                    accs.remove(key(MINUTE, m));
                }
            }
        }
        book.secondsFrom = sealTo;
    }

    private void removeSecondsBetween(long from, long to) {
        removeKeys(children, k -> levelOf(k) == SECOND && startOf(k) >= from && startOf(k) < to);
        removeKeys(accs, k -> levelOf(k) == MINUTE && startOf(k) >= from && startOf(k) < to);
    }

    /** Remove the entries whose key matches. */
    private static void removeKeys(Map<Long, ?> map, LongPredicate stale) {
        map.keySet().removeIf(stale::test);
    }

    /** Record a child's values and return its bucket's new value (null: an AM minute ignores seconds). */
    private Vals addChild(int level, long childStart, long bucket, Vals values) {
        long accKey = key(level + 1, bucket);
        Acc acc = accs.get(accKey);
        if (acc != null && acc.am) {
            return null;
        }
        children.put(key(level, childStart), values);
        boolean irregular = level == SECOND && Math.floorMod(childStart, 1_000L) != 0;
        if (acc == null) {
            acc = new Acc();
            acc.last = childStart;
            acc.lastVals = values;
        } else if (childStart == acc.last) {
            acc.lastVals = values;
        } else if (childStart > acc.last) {
            acc.prefix = acc.value();
            acc.last = childStart;
            acc.lastVals = values;
        } else {
            acc.irregular |= irregular;
            acc.prefix = refold(acc, level, bucket);
        }
        acc.irregular |= irregular;
        accs.put(accKey, acc);
        return acc.value();
    }

    /** Fold every stored child of `bucket` before `acc.last`, in time order (a correction of an earlier child). */
    private Vals refold(Acc acc, int level, long bucket) {
        Vals folded = null;
        if (level == SECOND && acc.irregular) {
            List<Long> starts = new ArrayList<>();
            for (Long k : children.keySet()) {
                long start = startOf(k);
                if (levelOf(k) == SECOND && start >= bucket && start < acc.last) {
                    starts.add(start);
                }
            }
            starts.sort(null);
            for (long start : starts) {
                Vals part = children.get(key(SECOND, start));
                folded = folded == null ? part : folded.then(part);
            }
            return folded;
        }
        long step = LENGTH[level];
        for (long t = bucket; t < acc.last; t += step) {
            Vals part = children.get(key(level, t));
            if (part != null) {
                folded = folded == null ? part : folded.then(part);
            }
        }
        return folded;
    }

    /**
     * Forget New York days before the day preceding the watermark's: a re-sent bar for yesterday is still
     * merged exactly (the embedded pipeline repairs it from its store), older ones are dead-lettered.
     */
    private void evictBehind(Book book) {
        long cutoff = nyDayStart(nyDayStart(book.maxEnd - lateness()) - 1); // keep the watermark's day and the one before
        if (cutoff <= book.evictedBefore) {
            return;
        }
        book.evictedBefore = cutoff;
        removeKeys(children, k -> startOf(k) < cutoff);
        removeKeys(accs, k -> startOf(k) < cutoff);
    }

    /** The allowed lateness (ms): the oracle's default, 15 minutes. */
    protected long lateness() {
        return 15 * MINUTE_MS;
    }

    /** A changed candle: it replaces the symbol's pending version of that candle until the next flush. */
    private void changed(String symbol, int level, long bucket, Vals x, double vwap) {
        pending.put(new CandleKey(symbol, level, bucket), new Candle(x.o, x.h, x.l, x.c, x.v, vwap, x.n));
    }

    /**
     * A state key for a start at a level (starts are < 2^60, levels < 8): `start << 3 | level`, scrambled
     * by a bijection. Plain, the keys of one symbol's minutes and buckets (multiples of 60,000 ms and up)
     * share their low bits, and HashMap's bins overflowed into trees; scrambled, they spread.
     */
    static long key(int level, long start) {
        long x = ((start << 3) | level) * SCRAMBLE;
        return x ^ (x >>> 29);
    }

    static long startOf(long key) {
        return unscramble(key) >> 3;
    }

    static int levelOf(long key) {
        return (int) (unscramble(key) & 7);
    }

    private static long unscramble(long key) {
        return (key ^ (key >>> 29) ^ (key >>> 58)) * UNSCRAMBLE;
    }

    /** An odd constant (the golden ratio's 64-bit fraction) and its inverse modulo 2^64. */
    static final long SCRAMBLE = 0x9E3779B97F4A7C15L, UNSCRAMBLE = 0xF1DE83E19937733DL;

    /** Midnight New York of the day containing `ms` (hour starts arrive in runs: the last answer is cached). */
    long nyDayStart(long ms) {
        long hour = ms - Math.floorMod(ms, HOUR_MS);
        if (hour != cachedHour) {
            cachedDay = Instant.ofEpochMilli(hour).atZone(NEW_YORK).toLocalDate().atStartOfDay(NEW_YORK)
                    .toInstant().toEpochMilli();
            cachedHour = hour;
        }
        return cachedDay;
    }
}
