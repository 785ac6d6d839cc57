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
 *     (15 min). A bar behind it follows the same rules as one in time (as the embedded pipeline's
 *     memory and late.py do): an AM bar replaces its minute, an A bar is an upsert among its
 *     minute's seconds (ignored once the minute has its AM bar), and every roll-up above is re-folded
 *     exactly. Second bars of minutes more than the seconds horizon (60 min) behind the watermark
 *     leave state, and a second bar for such a minute is rejected (it could only be merged wrongly);
 *     New York days before the watermark's previous day are evicted. A rejected bar and a bar for an
 *     evicted day come out at once as a row with late_reason set (the job sends it to the
 *     dead-letter topic with its partition and offset).
 *
 * State per symbol, one `Book` in one value state (one state lookup per bar; the heap state backend
 * hands out the live object, copied on write while a checkpoint is being taken): the latest bar end
 * and eviction horizon, each level's latest bucket (`open`, in the book itself), the older buckets
 * (`accs`) and the children that are no longer the latest of their bucket (`children`; a minute's
 * second bars stay with the minute's bucket, and leave state with it). A bucket keeps the fold of
 * its children before the latest one, plus the latest one. Bars arriving in order thus touch the
 * book's open buckets and store a child only when a later one supersedes it; only a correction of an
 * earlier child re-folds its bucket from `children`. (The maps are large, and each lookup costs cache
 * misses: keeping the hot path out of them is what makes the operator fast.) The heap backend is
 * assumed: a backend that serialises state (RocksDB) would copy the whole book on every bar.
 *
 * Output is coalesced: each bar changes five candles, but only the latest version of each changed
 * candle leaves the operator, every `flushMs` (a processing-time timer), before every checkpoint
 * barrier (so a checkpoint never holds state whose candles were not sent) and at the end of input.
 * Within a flush candles leave symbol by symbol, in the order each symbol first changed, and within
 * a symbol level by level, each level's candles in the order they first changed, so one symbol's
 * minutes stay in time order. A burst of bars for one minute thus costs one row per candle per
 * flush, not five rows per bar through the sink; changes are kept per symbol, one lookup per bar.
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
import java.time.LocalDate;
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
    public static final String UID = "build-candles-v3";

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
     * the oldest minute that may still hold second bars (0: none yet); the latest bucket of each level
     * (`open[level]`, null before the first), the other buckets by key(level, start), and the
     * children that are not their bucket's latest by key(level, start). A fold is in one place only.
     */
    public static class Book {
        public long maxEnd;
        public long evictedBefore;
        public long secondsFrom;
        public Acc[] open = new Acc[D1 + 1];
        public Map<Long, Acc> accs = new HashMap<>();
        public Map<Long, Vals> children = new HashMap<>();

        /** Its type: POJOs, arrays and maps throughout, so that checkpoints never fall back to Kryo. */
        static TypeInformation<Book> type() {
            TypeInformation<Vals> vals = Types.POJO(Vals.class);
            TypeInformation<Map<Long, Vals>> valsByKey = Types.MAP(Types.LONG, vals);
            TypeInformation<Acc> acc = Types.POJO(Acc.class, Map.of(
                    "start", Types.LONG, "last", Types.LONG, "prefix", vals, "lastVals", vals, "am", Types.BOOLEAN,
                    "irregular", Types.BOOLEAN, "seconds", valsByKey));
            return Types.POJO(Book.class, Map.of(
                    "maxEnd", Types.LONG, "evictedBefore", Types.LONG, "secondsFrom", Types.LONG,
                    "open", Types.OBJECT_ARRAY(acc), "accs", Types.MAP(Types.LONG, acc), "children", valsByKey));
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
     * `lastVals` is the latest child (null before the first). A minute's fold keeps its earlier second
     * bars (`seconds`, by key(SECOND, start)), so that they leave state with it; `am` marks a minute an
     * AM bar has settled, `irregular` one with a second bar not aligned to a whole second (re-folded by
     * a scan).
     */
    public static class Acc {
        public long start;
        public long last;
        public Vals prefix;
        public Vals lastVals;
        public boolean am;
        public boolean irregular;
        public Map<Long, Vals> seconds;

        Vals value() {
            return prefix == null ? lastVals : prefix.then(lastVals);
        }
    }

    /** A candle waiting for the next flush: its start and latest values, written as the candles topic's v1 JSON record (backend/bus/schema.py). */
    private record Candle(long start, double open, double high, double low, double close, double volume,
                          double vwap, long trades) {
        String json(String symbol, int level, StringBuilder out) {
            out.setLength(0);
            out.append("{\"type\":\"candle\",\"version\":1,\"symbol\":");
            Records.appendJsonString(out, symbol);
            return out.append(",\"timeframe\":\"").append(TIMEFRAME[level])
                    .append("\",\"start_ms\":").append(start)
                    .append(",\"open\":").append(open).append(",\"high\":").append(high)
                    .append(",\"low\":").append(low).append(",\"close\":").append(close)
                    .append(",\"volume\":").append(volume).append(",\"vwap\":").append(vwap)
                    .append(",\"trades\":").append(trades).append('}').toString();
        }
    }

    /** A symbol's candles changed since the last flush: per level, the latest version of each, in the order first changed. */
    private static final class Changes {
        final String symbol;
        @SuppressWarnings("unchecked")
        final List<Candle>[] byLevel = new List[D1 + 1];

        Changes(String symbol) {
            this.symbol = symbol;
            for (int level = MINUTE; level <= D1; level++) {
                byLevel[level] = new ArrayList<>(4);
            }
        }

        /** Replace the pending version of the candle at `candle.start()`, else add it. */
        void put(int level, Candle candle) {
            List<Candle> candles = byLevel[level];
            for (int i = candles.size() - 1; i >= 0; i--) { // the latest bucket, almost always
                if (candles.get(i).start() == candle.start()) {
                    candles.set(i, candle);
                    return;
                }
            }
            candles.add(candle);
        }
    }

    private final long flushMs;
    private transient ValueState<Book> books;
    private transient Book book; // the current symbol's
    private transient Map<String, Changes> pending; // by symbol, in the order first changed
    private transient Changes changes; // the current symbol's
    private transient StringBuilder json;
    private transient boolean flushScheduled;
    private transient StreamRecord<RowData> outRecord;
    private transient long[] dayFrom, dayTo; // two New York days: [from, to)
    private transient int dayUsed;

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
        dayFrom = new long[2];
        dayTo = new long[2];
    }

    @Override
    public void processElement(StreamRecord<RowData> record) throws Exception {
        RowData bar = record.getValue();
        book = books.value();
        if (book == null) {
            book = new Book();
            books.update(book);
        }
        String symbol = (String) getCurrentKey();
        changes = pending.computeIfAbsent(symbol, Changes::new);
        process(bar);
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
        for (Changes symbolChanges : pending.values()) {
            String symbol = symbolChanges.symbol;
            StringData symbolData = StringData.fromString(symbol);
            for (int level = MINUTE; level <= D1; level++) {
                for (Candle candle : symbolChanges.byLevel[level]) {
                    String topicKey = symbol + "|" + TIMEFRAME[level] + "|" + candle.start();
                    output.collect(outRecord.replace(GenericRowData.of(symbolData, StringData.fromString(topicKey),
                            StringData.fromString(candle.json(symbol, level, json)), null, null, null)));
                }
            }
        }
        pending.clear();
    }

    private void process(RowData bar) {
        boolean am = AM.equals(bar.getString(1));
        long start = bar.getLong(2);
        long end = bar.getLong(3);
        if (start < book.evictedBefore) {
            String reason = "late: the job's state for the New York day of " + Instant.ofEpochMilli(start)
                    + " was evicted (bars end at " + Instant.ofEpochMilli(book.maxEnd) + "); this bar was not merged";
            output.collect(outRecord.replace(GenericRowData.of(StringData.fromString(changes.symbol), null, null, StringData.fromString(reason), bar.getInt(11), bar.getLong(12))));
            return;
        }
        if (!am && start < book.maxEnd - lateness() - secondsHorizon()) {
            String reason = "late: second bar at " + Instant.ofEpochMilli(start) + " is more than "
                    + secondsHorizon() / MINUTE_MS + " minutes behind the watermark; its minute's other seconds are "
                    + "no longer kept, so it is not merged";
            output.collect(outRecord.replace(GenericRowData.of(StringData.fromString(changes.symbol), null, null, StringData.fromString(reason), bar.getInt(11), bar.getLong(12))));
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
        if (am) {
            Acc acc = acc(MINUTE, minute);
            acc.am = true;
            acc.seconds = null; // overridden, never read again
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
        changed(MINUTE, minute, minuteVals, minuteVals.vw);
        Vals child = minuteVals;
        long childStart = minute;
        for (int level = MINUTE; level < D1; level++) {
            long bucket = bucketOf(level + 1, childStart);
            child = addChild(level, childStart, bucket, child);
            changed(level + 1, bucket, child, child.vwap());
            childStart = bucket;
        }
        sealSecondsBehind();
        evictBehind();
    }

    /**
     * Drop the second bars (and their folds) of minutes wholly behind the seconds horizon: a second bar
     * for such a minute is rejected, so they are never read again. Keeps state to ~75 minutes of seconds.
     */
    private void sealSecondsBehind() {
        long sealTo = Math.floorDiv(book.maxEnd - lateness() - secondsHorizon(), MINUTE_MS) * MINUTE_MS;
        if (book.secondsFrom == 0 || book.secondsFrom >= sealTo) {
            return;
        }
        if ((sealTo - book.secondsFrom) / MINUTE_MS > 1_440) {
            long from = book.secondsFrom; // a long gap: one scan
            removeKeys(book.accs, k -> levelOf(k) == MINUTE && startOf(k) >= from && startOf(k) < sealTo);
        } else {
            for (long m = book.secondsFrom; m < sealTo; m += MINUTE_MS) {
                book.accs.remove(key(MINUTE, m));
            }
        }
        dropOpenBefore(MINUTE, sealTo);
        book.secondsFrom = sealTo;
    }

    /** Remove the entries whose key matches. */
    private static void removeKeys(Map<Long, ?> map, LongPredicate stale) {
        map.keySet().removeIf(stale::test);
    }

    /**
     * Record a child's values and return its bucket's new value (null: an AM minute ignores seconds).
     * A child that is no longer its bucket's latest is stored (a second bar in its minute's fold,
     * anything else in `children`); the latest is the fold's `lastVals`.
     */
    private Vals addChild(int level, long childStart, long bucket, Vals values) {
        Acc acc = acc(level + 1, bucket);
        if (acc.am) {
            return null;
        }
        boolean irregular = level == SECOND && Math.floorMod(childStart, 1_000L) != 0;
        if (acc.lastVals == null) {
            acc.last = childStart;
            acc.lastVals = values;
        } else if (childStart == acc.last) {
            acc.lastVals = values;
        } else if (childStart > acc.last) {
            earlierChildren(level, acc).put(key(level, acc.last), acc.lastVals);
            acc.prefix = acc.value();
            acc.last = childStart;
            acc.lastVals = values;
        } else {
            earlierChildren(level, acc).put(key(level, childStart), values);
            acc.irregular |= irregular;
            acc.prefix = refold(acc, level, bucket);
        }
        acc.irregular |= irregular;
        return acc.value();
    }

    /** Where a bucket's children before its latest are: a minute's second bars in its fold, the rest in `children`. */
    private Map<Long, Vals> earlierChildren(int level, Acc acc) {
        if (level != SECOND) {
            return book.children;
        }
        if (acc.seconds == null) {
            acc.seconds = new HashMap<>();
        }
        return acc.seconds;
    }

    /** The fold of the bucket at `level` starting at `bucket`, created if there is none. */
    private Acc acc(int level, long bucket) {
        Acc open = book.open[level];
        if (open != null && open.start == bucket) {
            return open;
        }
        if (open != null && bucket < open.start) {
            return book.accs.computeIfAbsent(key(level, bucket), k -> newAcc(bucket));
        }
        if (open != null) {
            book.accs.put(key(level, open.start), open); // a later bucket opens
        }
        return book.open[level] = newAcc(bucket);
    }

    private static Acc newAcc(long start) {
        Acc acc = new Acc();
        acc.start = start;
        return acc;
    }

    /** A child's values (null: none): stored if it is no longer its bucket's latest, else its bucket's `lastVals`. */
    private Vals child(int level, long start) {
        Vals stored = book.children.get(key(level, start));
        if (stored != null) {
            return stored;
        }
        long bucket = bucketOf(level + 1, start);
        Acc open = book.open[level + 1];
        Acc parent = open != null && open.start == bucket ? open : book.accs.get(key(level + 1, bucket));
        return parent != null && parent.lastVals != null && parent.last == start ? parent.lastVals : null;
    }

    /** The start of the bucket at `level` (M5 and up) holding `start`: epoch-aligned, 1d the New York day. */
    private long bucketOf(int level, long start) {
        return level == D1 ? nyDayStart(start) : start - Math.floorMod(start, LENGTH[level]);
    }

    /** Forget the open bucket of `level` if it starts before `cutoff`. */
    private void dropOpenBefore(int level, long cutoff) {
        if (book.open[level] != null && book.open[level].start < cutoff) {
            book.open[level] = null;
        }
    }

    /** Fold every stored child of `bucket` before `acc.last`, in time order (a correction of an earlier child). */
    private Vals refold(Acc acc, int level, long bucket) {
        Vals folded = null;
        Map<Long, Vals> parts = earlierChildren(level, acc);
        if (level == SECOND && acc.irregular) {
            List<Long> starts = new ArrayList<>();
            for (Long k : parts.keySet()) {
                long start = startOf(k);
                if (start < acc.last) {
                    starts.add(start);
                }
            }
            starts.sort(null);
            for (long start : starts) {
                Vals part = parts.get(key(SECOND, start));
                folded = folded == null ? part : folded.then(part);
            }
            return folded;
        }
        long step = LENGTH[level];
        for (long t = bucket; t < acc.last; t += step) {
            Vals part = parts.get(key(level, t));
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
    private void evictBehind() {
        long cutoff = nyDayStart(nyDayStart(book.maxEnd - lateness()) - 1); // keep the watermark's day and the one before
        if (cutoff <= book.evictedBefore) {
            return;
        }
        book.evictedBefore = cutoff;
        removeKeys(book.children, k -> startOf(k) < cutoff);
        removeKeys(book.accs, k -> startOf(k) < cutoff);
        for (int level = MINUTE; level <= D1; level++) {
            dropOpenBefore(level, cutoff);
        }
    }

    /** The allowed lateness (ms): the oracle's default, 15 minutes. */
    protected long lateness() {
        return 15 * MINUTE_MS;
    }

    /** How far behind the watermark a minute's second bars are kept (ms): the oracle's default, 60 minutes. */
    protected long secondsHorizon() {
        return 60 * MINUTE_MS;
    }

    /** A changed candle: it replaces the symbol's pending version of that candle until the next flush. */
    private void changed(int level, long bucket, Vals x, double vwap) {
        changes.put(level, new Candle(bucket, x.o, x.h, x.l, x.c, x.v, vwap, x.n));
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

    /**
     * Midnight New York of the day containing `ms`. The last two days asked for are kept: a bar asks for
     * its own day and the watermark's eviction for the day before, over and over.
     */
    long nyDayStart(long ms) {
        for (int i = 0; i < 2; i++) {
            if (ms >= dayFrom[i] && ms < dayTo[i]) {
                dayUsed = i;
                return dayFrom[i];
            }
        }
        LocalDate day = Instant.ofEpochMilli(ms).atZone(NEW_YORK).toLocalDate();
        dayUsed = 1 - dayUsed;
        dayFrom[dayUsed] = day.atStartOfDay(NEW_YORK).toInstant().toEpochMilli();
        dayTo[dayUsed] = day.plusDays(1).atStartOfDay(NEW_YORK).toInstant().toEpochMilli();
        return dayFrom[dayUsed];
    }
}
